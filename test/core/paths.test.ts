import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/core/paths.js';

test('packageRoot: the directory with tcpotel\'s package.json and bpf/, above this file', () => {
  const root = packageRoot();
  assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name, 'tcpotel');
  assert.ok(statSync(join(root, 'bpf')).isDirectory());
  assert.ok(existsSync(join(root, 'bin', 'tcpotel.js')));
  // The compiled test runs from dist/test/core: the root is above dist/.
  const here = dirname(fileURLToPath(import.meta.url));
  assert.ok(here.startsWith(root + '/'), `${here} is under ${root}`);
  assert.ok(!root.endsWith('/dist'), 'not the compiled tree');
  assert.equal(packageRoot(), root, 'the same answer every time');
});
