import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, linkSync, readFileSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createExclusive, openAppend, openReplace } from '../../src/core/files.js';
import { tempDirs } from '../support/tmp.js';

const tempDir = tempDirs();
const dir = () => tempDir('tcpotel-files-');

test('openAppend creates 0640 and appends; openReplace empties', () => {
  const d = dir();
  const p = join(d, 'a');
  const a = openAppend(p);
  writeSync(a.fd, 'one\n');
  closeSync(a.fd);
  const b = openAppend(p);
  writeSync(b.fd, 'two\n');
  closeSync(b.fd);
  assert.equal(readFileSync(p, 'utf8'), 'one\ntwo\n');
  assert.equal(statSync(p).mode & 0o777, 0o640);
  const c = openReplace(p);
  writeSync(c.fd, 'three\n');
  closeSync(c.fd);
  assert.equal(readFileSync(p, 'utf8'), 'three\n');
});

test('a symlink, a FIFO, or a second name (hard link) at the path is refused, and what it points to untouched', () => {
  const d = dir();
  const target = join(d, 'shadow');
  writeFileSync(target, 'root:x\n', { mode: 0o600 });
  const link = join(d, 'out');
  symlinkSync(target, link);
  for (const open of [openAppend, openReplace, createExclusive]) assert.throws(() => open(link), /symbolic link|appeared/);
  assert.equal(readFileSync(target, 'utf8'), 'root:x\n');
  const hard = join(d, 'hard');
  linkSync(target, hard);
  assert.throws(() => openReplace(hard), /has 2 names/);
  assert.equal(readFileSync(target, 'utf8'), 'root:x\n');
  const fifo = join(d, 'fifo');
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => openAppend(fifo), /not a regular file|ENXIO/);
});

test('createExclusive fails when anything is there', () => {
  const d = dir();
  const p = join(d, 'x');
  writeFileSync(p, '');
  assert.throws(() => createExclusive(p), /appeared/);
  const q = join(d, 'y');
  closeSync(createExclusive(q).fd);
  assert.equal(statSync(q).mode & 0o777, 0o640);
});
