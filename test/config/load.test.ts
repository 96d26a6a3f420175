/**
 * Config files that are dangerous to read or to trust: too big, not a regular file (a FIFO,
 * /dev/zero), writable by others, alias bombs. Each is refused with a clear message and exit
 * code 2, without hanging or eating memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { loadConfigFiles, MAX_CONFIG_BYTES } from '../../src/config/load.js';

const cli = join(packageRoot(), 'bin', 'tcpotel.js');
const GOOD = 'receivers:\n  ebpf:\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [ebpf], exporters: [debug]}\n';

function dir(mode = 0o755): string {
  const d = mkdtempSync(join(tmpdir(), 'tcpotel-load-'));
  chmodSync(d, mode);
  return d;
}

function validate(files: string[], extra: string[] = []): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'validate', ...files.flatMap((f) => ['--config', f]), ...extra], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('a config larger than 8 MiB is refused before it is read', async () => {
  const f = join(dir(), 'big.yaml');
  writeFileSync(f, GOOD + '#'.repeat(MAX_CONFIG_BYTES));
  const r = await validate([f]);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(`${f}: ${f} is larger than 8MiB: a config is at most 8388608 bytes`), r.stderr);
});

test('a FIFO or a device as --config is refused at once, not read', async () => {
  const d = dir();
  const fifo = join(d, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  const r = await validate([fifo]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /fifo\.yaml is a FIFO: a config must be a regular file/);
  const z = await validate(['/dev/zero']);
  assert.equal(z.code, 2, z.stderr);
  assert.match(z.stderr, /\/dev\/zero is a character device: a config must be a regular file/);
  const dirAsConfig = await validate([d]);
  assert.equal(dirAsConfig.code, 2);
  assert.match(dirAsConfig.stderr, /is a directory: a config must be a regular file/);
});

test('a config others can change is refused, unless --allow-insecure-config', async () => {
  const d = dir();
  const f = join(d, 'tcpotel.yaml');
  writeFileSync(f, GOOD);
  chmodSync(f, 0o664);
  const r = await validate([f]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /tcpotel\.yaml is writable by its group \(mode 0664\): anyone who can change it decides what tcpotel does, with its privileges; fix with chmod go-w, or pass --allow-insecure-config/);
  chmodSync(f, 0o646);
  assert.match((await validate([f])).stderr, /writable by others \(mode 0646\)/);
  assert.equal((await validate([f], ['--allow-insecure-config'])).code, 0);

  // In a directory others can write, without the sticky bit.
  const open = dir(0o777);
  const g = join(open, 'tcpotel.yaml');
  writeFileSync(g, GOOD);
  chmodSync(g, 0o644);
  const r2 = await validate([g]);
  assert.equal(r2.code, 2, r2.stderr);
  assert.ok(r2.stderr.includes(`is in ${open}, which others can write without the sticky bit (mode 0777)`), r2.stderr);
  // With the sticky bit (like /tmp), others cannot replace it: accepted.
  chmodSync(open, 0o1777);
  const ok = await validate([g]);
  assert.equal(ok.code, 0, ok.stderr);
  // A subdirectory of a writable one is as unsafe (the parent's entries can be replaced).
  const parent = dir(0o777);
  mkdirSync(join(parent, 'sub'), { mode: 0o755 });
  const h = join(parent, 'sub', 'tcpotel.yaml');
  writeFileSync(h, GOOD);
  assert.match((await validate([h])).stderr, /which others can write without the sticky bit/);
});

test('a YAML alias bomb is reported with the file and line of its first alias, exit 2', async () => {
  const f = join(dir(), 'bomb.yaml');
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 9; i++) {
    const prev = String.fromCharCode(97 + i);
    const next = String.fromCharCode(98 + i);
    lines.push(`${next}: &${next} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`);
  }
  writeFileSync(f, lines.join('\n') + '\n');
  const r = await validate([f]);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(`${f}:2:`), r.stderr);
  assert.match(r.stderr, /YAML aliases expand too much: at most 100 alias expansions are allowed/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  // A few aliases are fine.
  const few = loadConfigFiles([writeTmp('x: &p {ports: [80]}\ny: *p\n')]);
  assert.deepEqual(few.issues, []);
});

function writeTmp(text: string): string {
  const f = join(dir(), 'c.yaml');
  writeFileSync(f, text);
  return f;
}
