/** `tcpotel doctor` on this machine: what the kernel allows, as KERNEL.md describes it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { asUser, unprivilegedCli } from '../support/unprivileged.js';

const cli = join(packageRoot(), 'bin', 'tcpotel.js');

test('doctor reports kprobes and fentry unavailable; tracepoints, tp_btf, iterators and the ring buffer available', () => {
  const r = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  for (const ok of ['tracepoint', 'syscall_tracepoint', 'raw_tp', 'tp_btf', 'iter_tcp', 'iter_task_file', 'ringbuf']) {
    assert.equal(d.hooks[ok].ok, true, `${ok}: ${d.hooks[ok].detail}`);
  }
  assert.equal(d.hooks.kprobe.ok, false);
  assert.match(d.hooks.kprobe.detail, /attach/);
  assert.equal(d.hooks.fentry.ok, false);
  assert.match(d.hooks.fentry.detail, /not permitted/);
  assert.equal(d.btf.ok, true);
  assert.equal(d.kernel.ok, true);
  assert.equal(d.privileges.canTrace, true);
  assert.deepEqual(d.receivers.map((v: { name: string; ok: boolean }) => [v.name, v.ok]), [['ebpf', true], ['sockdiag', true]]);
});

test('doctor, human-readable: says which receivers and features work and why not', () => {
  const r = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\s+NO\s+kprobes\s+no attach point/m);
  assert.match(r.stdout, /^\s+NO\s+fentry\/fexit \(BPF trampolines\)\s+not permitted by this kernel/m);
  assert.match(r.stdout, /^\s+yes\s+BTF-typed tracepoints \(tp_btf\)/m);
  assert.match(r.stdout, /^\s+yes\s+ebpf\s+state changes via tp_btf/m);
});

test('doctor as an unprivileged user: the eBPF receiver would not work, sockdiag would, and it says why', (t) => {
  const nobody = unprivilegedCli();
  if (!nobody.cli) return t.skip(`cannot run tcpotel as nobody: ${nobody.why}`);
  const r = spawnSync('setpriv', [...asUser(), process.execPath, nobody.cli, 'doctor', '--json'], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  const ebpf = d.receivers.find((v: { name: string }) => v.name === 'ebpf');
  assert.equal(ebpf.ok, false);
  assert.match(ebpf.detail, /needs root, or CAP_BPF and CAP_PERFMON/);
  assert.equal(d.receivers.find((v: { name: string }) => v.name === 'sockdiag').ok, true);
});
