import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SetupError, UserFacingError } from '../../src/core/errors.js';

test('UserFacingError: message, optional hint, exit code 1 unless given', () => {
  const e = new UserFacingError('no config given');
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'UserFacingError');
  assert.equal(e.message, 'no config given');
  assert.equal(e.hint, undefined);
  assert.equal(e.exitCode, 1);
  const f = new UserFacingError('bad flag', 'pass --config FILE', 2);
  assert.equal(f.hint, 'pass --config FILE');
  assert.equal(f.exitCode, 2);
});

test('SetupError is a UserFacingError with its own name', () => {
  const e = new SetupError('this kernel exposes no BTF', 'rebuild with CONFIG_DEBUG_INFO_BTF=y');
  assert.ok(e instanceof UserFacingError);
  assert.ok(e instanceof SetupError);
  assert.equal(e.name, 'SetupError');
  assert.equal(e.exitCode, 1);
  assert.equal(e.hint, 'rebuild with CONFIG_DEBUG_INFO_BTF=y');
  assert.equal(new SetupError('x', undefined, 3).exitCode, 3);
  assert.ok(!(new UserFacingError('x') instanceof SetupError));
  assert.match(String(e), /^SetupError: this kernel exposes no BTF/);
});
