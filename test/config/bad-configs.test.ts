/**
 * The corpus of bad configs under test/config/bad/: each must make `tcpotel validate`
 * exit with code 2, without a stack trace, naming the file, line, YAML path and problem
 * announced by its `# expect:` header lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { packageRoot } from '../../src/core/paths.js';

const dir = join(packageRoot(), 'test', 'config', 'bad');
const cli = join(packageRoot(), 'bin', 'tcpotel.js');

interface Expectation {
  path: string;
  line: number;
  fragment: string;
}

function expectations(file: string): Expectation[] {
  const out: Expectation[] = [];
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    const m = /^# expect: (?:(\S+) )?line (\d+): (.*)$/.exec(l);
    if (m) out.push({ path: m[1] ?? '', line: Number(m[2]), fragment: m[3]!.trim() });
  }
  return out;
}

function validate(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'validate', '--config', file], { env: { ...process.env, TCPOTEL_DEBUG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

test('the corpus holds at least 25 bad configs', () => {
  assert.ok(files.length >= 25, `${files.length} files`);
});

for (const name of files) {
  test(`bad config ${name}`, async () => {
    const file = join(dir, name);
    const exp = expectations(file);
    assert.ok(exp.length > 0, `${name} has no # expect: line`);
    const r = await validate(file);
    assert.equal(r.code, 2, `exit code\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^\s+at .*\(.*:\d+:\d+\)$/m, 'no stack trace');
    for (const e of exp) {
      const lines = r.stderr.split('\n');
      const hit = lines.find((l) => l.includes(`${file}:${e.line}:`) && (e.path === '' || l.includes(`: ${e.path}: `)) && l.includes(e.fragment));
      assert.ok(hit, `expected a line with ${file}:${e.line}: ${e.path} ... ${e.fragment}\ngot:\n${r.stderr}`);
    }
  });
}
