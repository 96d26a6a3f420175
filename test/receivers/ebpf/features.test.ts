/** Each setup problem gets an error that says what to do (choosePrograms on synthetic reports). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choosePrograms, kernelVersion, type FeatureReport, type HookName } from '../../../src/receivers/ebpf/features.js';
import { SetupError } from '../../../src/core/errors.js';

function report(over: { hooks?: Partial<Record<HookName, boolean>>; canTrace?: boolean; kernel?: string; btf?: boolean } = {}): FeatureReport {
  const ok: Record<HookName, boolean> = { tp_btf: true, raw_tp: true, tracepoint: true, syscall_tracepoint: true, iter_tcp: true, iter_task_file: true, ringbuf: true, sockops: true, cgroup_skb: true, kprobe: false, fentry: false, ...over.hooks };
  const hooks = Object.fromEntries(Object.entries(ok).map(([k, v]) => [k, { probe: `probe_${k}`, description: k, ok: v, detail: v ? 'available' : 'load: Operation not permitted' }])) as FeatureReport['hooks'];
  return {
    kernel: kernelVersion(over.kernel ?? '6.18.0'),
    btf: { ok: over.btf ?? true, path: '/sys/kernel/btf/vmlinux' },
    privileges: { uid: over.canTrace === false ? 1000 : 0, capBpf: over.canTrace !== false, capPerfmon: over.canTrace !== false, capSysAdmin: over.canTrace !== false, capNetAdmin: false, canTrace: over.canTrace ?? true },
    tracefs: { ok: true, path: '/sys/kernel/tracing', detail: 'at /sys/kernel/tracing' },
    hooks,
  };
}

function setupError(fn: () => unknown): SetupError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SetupError, `a SetupError, got ${err}`);
    return err;
  }
  assert.fail('no error');
}

test('the full set on a capable kernel: tp_btf twins, syscall tracepoints for accept and connect, iterators', () => {
  const c = choosePrograms(report(), { iterators: true });
  assert.deepEqual(Object.keys(c.programs).sort(), [
    'btf_inet_sock_set_state', 'btf_tcp_destroy_sock', 'btf_tcp_receive_reset', 'btf_tcp_retransmit_skb', 'btf_tcp_send_reset',
    'iter_task_file', 'iter_tcp', 'tp_sys_exit_accept', 'tp_sys_exit_accept4', 'tp_sys_exit_connect',
  ]);
  assert.deepEqual(c.warnings, []);
});

test('tp_btf refused: the raw_tp twins, and sys_exit cannot replace missing syscall tracepoints', () => {
  const c = choosePrograms(report({ hooks: { tp_btf: false, syscall_tracepoint: false } }), { iterators: false });
  assert.ok(c.programs.raw_inet_sock_set_state && c.programs.raw_tcp_destroy_sock);
  assert.equal(c.programs.btf_sys_exit, undefined);
  assert.ok(c.warnings.some((w) => /raw_tp/.test(w)));
  assert.ok(c.warnings.some((w) => /listens/.test(w)));
});

test('no tracefs: accept is watched through tp_btf sys_exit, with a warning; early connect failures are not, and it says so', () => {
  const c = choosePrograms(report({ hooks: { syscall_tracepoint: false } }), { iterators: true });
  assert.equal(c.programs.btf_sys_exit, true);
  assert.ok(c.warnings.some((w) => /every syscall exit/.test(w)));
  assert.equal(c.programs.tp_sys_exit_connect, undefined);
  assert.ok(c.warnings.some((w) => /fail before their first SYN/.test(w)));
  const e = setupError(() => choosePrograms(report({ hooks: { syscall_tracepoint: false } }), { iterators: true, prefer: { connect: 'tracepoint' } }));
  assert.match(e.message, /hooks::connect: tracepoint/);
  assert.match(e.hint!, /tracefs/);
});

test('hooks::connect: none leaves connect() alone', () => {
  const c = choosePrograms(report(), { iterators: true, prefer: { connect: 'none' } });
  assert.equal(c.programs.tp_sys_enter_connect, undefined);
  assert.equal(c.programs.tp_sys_exit_connect, undefined);
  assert.match(c.plan.connectErrors, /none/);
  assert.deepEqual(c.warnings, []);
});

test('not root and no capabilities: says to run as root or grant CAP_BPF and CAP_PERFMON, or use sockdiag', () => {
  const e = setupError(() => choosePrograms(report({ canTrace: false }), { iterators: true }));
  assert.match(e.message, /needs privileges/);
  assert.match(e.hint!, /root/);
  assert.match(e.hint!, /CAP_BPF and CAP_PERFMON/);
  assert.match(e.hint!, /sockdiag/);
});

test('a kernel older than 5.8 is named, with the alternative', () => {
  const e = setupError(() => choosePrograms(report({ kernel: '5.4.0-150-generic' }), { iterators: true }));
  assert.match(e.message, /kernel 5\.4\.0-150-generic is too old/);
  assert.match(e.hint!, /sockdiag/);
});

test('no BTF and no working tracepoint hook: says the kernel needs CONFIG_DEBUG_INFO_BTF', () => {
  const e = setupError(() => choosePrograms(report({ btf: false, hooks: { tp_btf: false, raw_tp: false } }), { iterators: true }));
  assert.match(e.message, /CONFIG_DEBUG_INFO_BTF=y/);
  assert.match(e.hint!, /doctor/);
});

test('no ring buffer: named', () => {
  const e = setupError(() => choosePrograms(report({ hooks: { ringbuf: false } }), { iterators: true }));
  assert.match(e.message, /ring buffer is unavailable/);
});

test('iterators missing: the receiver runs without snapshot and live counters, with a warning', () => {
  const c = choosePrograms(report({ hooks: { iter_tcp: false } }), { iterators: true });
  assert.equal(c.programs.iter_tcp, undefined);
  assert.ok(c.warnings.some((w) => /no startup snapshot/.test(w)));
});

test('kernel versions', () => {
  assert.deepEqual(kernelVersion('6.18.44-fc-v669'), { release: '6.18.44-fc-v669', major: 6, minor: 18, ok: true });
  assert.equal(kernelVersion('5.8.0').ok, true);
  assert.equal(kernelVersion('5.7.19').ok, false);
});

test('hooks preferences choose a twin even where both work', () => {
  const raw = choosePrograms(report(), { iterators: false, prefer: { state: 'raw_tp', accept: 'sys_exit' } });
  assert.ok(raw.programs.raw_inet_sock_set_state && raw.programs.btf_sys_exit);
  assert.equal(raw.programs.btf_inet_sock_set_state, undefined);
  assert.equal(raw.programs.tp_sys_exit_accept4, undefined);
  assert.deepEqual(raw.warnings.filter((w) => /every syscall exit/.test(w)), [], 'a chosen sys_exit is not warned about');
  const none = choosePrograms(report(), { iterators: false, prefer: { accept: 'none' } });
  assert.equal(none.programs.btf_sys_exit, undefined);
  assert.equal(none.programs.tp_sys_exit_accept4, undefined);
  const e = setupError(() => choosePrograms(report({ hooks: { tp_btf: false } }), { iterators: false, prefer: { state: 'tp_btf' } }));
  assert.match(e.message, /neither tp_btf nor raw_tp/);
});
