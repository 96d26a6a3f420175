import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../../src/native/addon.js';
import { NativeError } from '../../src/native/errors.js';
import { explainBpfError } from '../../src/receivers/ebpf/ebpf.js';
import { explainSockdiagError } from '../../src/receivers/sockdiag/sockdiag.js';
import { SetupError } from '../../src/core/errors.js';

test('NativeError carries the operation, errno, its name and the log', () => {
  const e = new NativeError({ message: 'load failed: Operation not permitted', op: 'load', errno: 1, code: 'EPERM', log: 'verifier says' });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'NativeError');
  assert.deepEqual([e.message, e.op, e.errno, e.code, e.log], ['load failed: Operation not permitted', 'load', 1, 'EPERM', 'verifier says']);
  assert.equal(new NativeError({ message: 'm', op: 'sendto', errno: 9, code: 'EBADF' }).log, '');
});

test('the addon raises NativeError, with errno and its name (the path every native failure takes)', () => {
  const addon = loadAddon();
  assert.throws(
    () => addon.raiseError('sendto', 13),
    (err: unknown) => err instanceof NativeError && err.op === 'sendto' && err.errno === 13 && err.code === 'EACCES' && err.message === 'sendto failed: Permission denied',
  );
  assert.throws(() => addon.raiseError('load', -1), (err: unknown) => err instanceof NativeError && err.errno === 1 && err.code === 'EPERM');
});

test('sock_diag: a bad query is a TypeError, as before; its failures are NativeErrors', () => {
  const addon = loadAddon();
  assert.throws(() => addon.sockdiagLookup(Buffer.alloc(3)), TypeError);
  assert.equal(addon.sockdiagLookup(Buffer.alloc(0)).length, 0);
});

test('the errors are explained by op and code, from the one class', () => {
  const bpf = explainBpfError(new NativeError({ message: 'x', op: 'load', errno: 1, code: 'EPERM' }));
  assert.ok(bpf instanceof SetupError);
  assert.match(bpf.message, /refused \(load: EPERM\)/);
  const diag = explainSockdiagError(new NativeError({ message: 'sock_diag: socket(NETLINK_SOCK_DIAG) failed: x', op: 'socket(NETLINK_SOCK_DIAG)', errno: 13, code: 'EACCES' }));
  assert.ok(diag instanceof SetupError);
  assert.match(diag.message, /sock_diag \(netlink inet_diag\) failed/);
  const other = new Error('plain');
  assert.equal(explainBpfError(other), other);
  assert.equal(explainSockdiagError(other), other);
});
