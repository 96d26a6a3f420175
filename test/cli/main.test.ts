/**
 * The `tcpotel` command as a user runs it (bin/tcpotel.js in a child process): exit codes
 * (0 done, 2 a usage or config error), help, version, `validate` and `components`. None of
 * these needs privileges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { tempDirs } from '../support/tmp.js';

const root = packageRoot();
const bin = join(root, 'bin', 'tcpotel.js');
const tempDir = tempDirs();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tcpotel(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.TCPOTEL_DEBUG;
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
    execFile(process.execPath, [bin, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A config file in a fresh directory (0600: validate refuses files others can write). */
function configFile(body: string): string {
  const file = join(tempDir('tcpotel-cli-'), 'c.yaml');
  writeFileSync(file, body, { mode: 0o600 });
  return file;
}

const STACK_LINE = /^\s+at .*:\d+:\d+\)?$/m;
const COMMANDS = ['run', 'validate', 'components', 'top', 'doctor', 'record'];

test('--help: usage and every command, on stdout, exit 0', async () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const r = await tcpotel(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: tcpotel \[options\] \[command\]/);
    for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `${args.join(' ')} lists ${c}`);
  }
});

test('help <command> and <command> --help: that command\'s options, exit 0', async () => {
  const r = await tcpotel('help', 'run');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: tcpotel run \[options\]/);
  for (const o of ['--config <file>', '--log-level <level>', '--allow-insecure-config']) assert.ok(r.stdout.includes(o), o);
  const v = await tcpotel('validate', '--help');
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Usage: tcpotel validate \[options\]/);
  assert.ok(!v.stdout.includes('--log-level'), 'validate has no --log-level');
  for (const c of COMMANDS) {
    const h = await tcpotel(c, '--help');
    assert.equal(h.code, 0, `${c} --help: ${h.stderr}`);
    assert.match(h.stdout, new RegExp(`^Usage: tcpotel ${c} `), c);
    assert.equal(h.stderr, '');
  }
});

test('--version: the package\'s version, exit 0', async () => {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await tcpotel(flag);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('an unknown command or option, or no command: exit 2 with a hint, no stack trace', async () => {
  const cmd = await tcpotel('bogus');
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command 'bogus'/);
  assert.match(cmd.stderr, /run with --help for usage/);
  const opt = await tcpotel('validate', '--bogus');
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /unknown option '--bogus'/);
  const none = await tcpotel();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: tcpotel/, 'the usage, on stderr');
  const choice = await tcpotel('run', '--log-level', 'loud');
  assert.equal(choice.code, 2);
  assert.match(choice.stderr, /--log-level <level>' argument 'loud' is invalid/);
  for (const r of [cmd, opt, none, choice]) {
    assert.doesNotMatch(r.stderr, STACK_LINE);
    assert.equal(r.stdout, '');
  }
});

test('validate on a good config: exit 0, each pipeline and its components on stdout', async () => {
  const file = configFile(`
receivers:
  replay: {path: /dev/null}
processors:
  filter/failures:
    include: {kinds: [failed]}
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [replay]
      processors: [filter/failures]
      exporters: [debug]
`);
  const r = await tcpotel('validate', '--config', file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^configuration is valid: 1 pipeline\n/);
  assert.match(r.stdout, /^ {2}logs \(replay -> filter\/failures -> debug\)$/m);
  assert.equal(r.stderr, '');
});

test('validate on a bad config: exit 2, every error with file:line:column, no stack trace', async () => {
  const file = configFile(`receivers:
  replay: {path: /dev/null, speed: fast}
exporters:
  debug:
    verbosityy: detailed
service:
  pipelines:
    logs: {receivers: [replay], exporters: [debug]}
`);
  const r = await tcpotel('validate', '--config', file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^tcpotel: invalid configuration \(2 errors\):/);
  assert.ok(r.stderr.includes(`${file}:2:`), `line 2 named:\n${r.stderr}`);
  assert.ok(r.stderr.includes(`${file}:5:5: exporters::debug::verbosityy: unknown key "verbosityy"`), r.stderr);
  assert.doesNotMatch(r.stderr, STACK_LINE);
  assert.ok(!r.stderr.includes('TCPOTEL_DEBUG'), 'a config error is not an internal error');
  assert.equal(r.stdout, '');
});

test('validate without --config, or with a file that is not there: exit 2 and what to do', async () => {
  const none = await tcpotel('validate');
  assert.equal(none.code, 2);
  assert.equal(none.stderr, 'tcpotel: no config given\n  what to do: pass --config FILE (for example --config pipelines/default.yaml)\n');
  const missing = await tcpotel('validate', '--config', '/nonexistent/tcpotel.yaml');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /\/nonexistent\/tcpotel\.yaml: cannot read .*ENOENT/);
  assert.doesNotMatch(missing.stderr, STACK_LINE);
});

test('run on a bad config stops before attaching anything: exit 2', async () => {
  const r = await tcpotel('run', '--config', join(root, 'test', 'config', 'bad', '01-syntax-error.yaml'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /01-syntax-error\.yaml:\d+:\d+: YAML syntax error/);
  assert.doesNotMatch(r.stderr, STACK_LINE);
});

test('record with a duration that is none: exit 2 before recording', async () => {
  const out = join(tempDir('tcpotel-cli-'), 'rec.jsonl');
  const r = await tcpotel('record', '--out', out, '--duration', 'forever');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--duration: "forever" is not a duration/);
  assert.throws(() => statSync(out), 'nothing written');
});

/** Component folders under src/<kind>/ (shared code is not a type). */
function typesOf(kind: string): string[] {
  const dir = join(root, 'src', kind);
  return readdirSync(dir)
    .filter((d) => statSync(join(dir, d)).isDirectory() && d !== 'shared')
    .sort();
}

test('components: every receiver, processor, exporter and extension type, with its defaults', async () => {
  const json = await tcpotel('components', '--json');
  assert.equal(json.code, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as Record<string, Record<string, { description: string; defaults: unknown; signals?: string[] }>>;
  assert.deepEqual(Object.keys(listed), ['receivers', 'processors', 'exporters', 'extensions']);
  for (const kind of Object.keys(listed)) {
    const types = Object.keys(listed[kind]!);
    const folders = typesOf(kind);
    for (const f of folders) assert.ok(types.includes(f), `src/${kind}/${f} is listed: ${types.join(', ')}`);
    // A folder may hold a variant of its type (otlp holds otlphttp): none is without a folder.
    for (const t of types) assert.ok(folders.some((f) => t.startsWith(f)), `${t} has a folder under src/${kind}`);
    for (const [type, c] of Object.entries(listed[kind]!)) {
      assert.ok(c.description.length > 10, `${type} has a description`);
      assert.equal(typeof c.defaults, 'object', `${type} has defaults`);
      if (kind === 'exporters') assert.ok(c.signals!.length > 0, `${type} names its signals`);
    }
  }
  const text = await tcpotel('components');
  assert.equal(text.code, 0, text.stderr);
  for (const kind of Object.keys(listed)) {
    assert.match(text.stdout, new RegExp(`^${kind}:$`, 'm'));
    for (const type of Object.keys(listed[kind]!)) assert.match(text.stdout, new RegExp(`^  ${type}:`, 'm'), `${type} in the text listing`);
  }
});

test('components into a pipe closed early (| head -1): exit 0, no stack trace', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('/bin/sh', ['-c', `"${process.execPath}" "${bin}" components | head -1 >/dev/null`], { encoding: 'utf8' });
  assert.doesNotMatch(r.stderr, STACK_LINE, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE/, r.stderr);
});
