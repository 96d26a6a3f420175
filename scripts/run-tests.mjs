#!/usr/bin/env node
// Runs every compiled test file explicitly: `node --test <dir>` on Node 20 can run 0 tests
// and still exit 0. Unit tests run in parallel; acceptance tests (real BPF programs, real
// traffic, network namespaces) run one file at a time.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const only = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

// Compiled tests whose source is gone (renamed or removed) stay in dist/ until `make clean`: skip them.
let files = walk(testDir).filter((f) => {
  const src = join(root, f.slice(join(root, 'dist').length + 1)).replace(/\.js$/, '');
  return existsSync(`${src}.ts`) || existsSync(`${src}.tsx`);
});
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/test (did the build run?)');
  process.exit(1);
}
const acceptance = files.filter((f) => f.includes('/acceptance/'));
const unit = files.filter((f) => !f.includes('/acceptance/'));
// Acceptance tests with aggregates run twice: as configured (the kernel computes what it
// can: aggregate pushdown), and with every aggregate in tcpotel's process.
const withAggregates = acceptance.filter((f) => /aggregate/.test(readFileSync(f, 'utf8')) && !f.endsWith('pushdown.test.js'));
let failed = false;
for (const [group, list, concurrency, env] of [
  ['unit', unit, 2, {}],
  ['acceptance', acceptance, 1, {}],
  ['acceptance, aggregates in tcpotel\'s process (TCPOTEL_PUSHDOWN=never)', withAggregates, 1, { TCPOTEL_PUSHDOWN: 'never' }],
]) {
  if (!list.length) continue;
  console.log(`\n# ${group}: ${list.length} files`);
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
