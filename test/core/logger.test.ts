import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const loggerModule = fileURLToPath(new URL('../../src/core/logger.js', import.meta.url));

/** Runs a snippet in a fresh process with the logger module as `L`. */
function run(body: string, env: Record<string, string> = {}) {
  const script = `const L = await import(${JSON.stringify(loggerModule)});\n${body}`;
  const base = { ...process.env };
  delete base.TCPOTEL_LOG_LEVEL;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...base, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, lines: r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('createLogger: JSON lines on stderr (stdout stays free), at the level asked for', () => {
  const { stdout, lines } = run(`const log = L.createLogger('info'); log.debug('hidden'); log.info({ n: 1 }, 'shown'); log.warn('also');`);
  assert.equal(stdout, '');
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    [30, 'shown'],
    [40, 'also'],
  ]);
  assert.equal(lines[0]!.n, 1);
  assert.equal('pid' in lines[0]! || 'hostname' in lines[0]!, false, 'no base fields');
});

test('createLogger: header values are redacted', () => {
  const { lines } = run(
    `L.createLogger('info').info({ headers: { authorization: 'Bearer s3cret' }, config: { headers: { 'x-api-key': 'k3y' } }, exporter: { headers: { a: 'b' } } }, 'export');`,
  );
  const text = JSON.stringify(lines);
  assert.ok(!text.includes('s3cret') && !text.includes('k3y'), text);
  assert.deepEqual(lines[0]!.headers, { authorization: '[redacted]' });
  assert.deepEqual((lines[0]!.config as { headers: unknown }).headers, { 'x-api-key': '[redacted]' });
  assert.deepEqual((lines[0]!.exporter as { headers: unknown }).headers, { a: '[redacted]' });
});

test('rootLogger: the logger createLogger made; before that, TCPOTEL_LOG_LEVEL or warn', () => {
  const made = run(`const a = L.createLogger('debug'); process.stdout.write(String(L.rootLogger() === a) + ' ' + L.rootLogger().level);`);
  assert.equal(made.stdout, 'true debug');
  assert.equal(run(`process.stdout.write(L.rootLogger().level + ' ' + String(L.rootLogger() === L.rootLogger()));`).stdout, 'warn true');
  assert.equal(run(`process.stdout.write(L.rootLogger().level);`, { TCPOTEL_LOG_LEVEL: 'error' }).stdout, 'error');
});

test('TCPOTEL_LOG_LEVEL: empty or unknown means warn (it used to make rootLogger throw)', () => {
  assert.equal(run(`process.stdout.write(L.rootLogger().level);`, { TCPOTEL_LOG_LEVEL: '' }).stdout, 'warn');
  assert.equal(run(`process.stdout.write(L.rootLogger().level);`, { TCPOTEL_LOG_LEVEL: 'loud' }).stdout, 'warn');
  assert.equal(run(`process.stdout.write(L.rootLogger().level);`, { TCPOTEL_LOG_LEVEL: ' Info ' }).stdout, 'info');
});
