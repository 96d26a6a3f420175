/**
 * `tcpotel doctor`: what this kernel and these privileges allow, which receivers and
 * features will work, and why not.
 */
import type { Command } from 'commander';
import { probeFeatures, type FeatureReport, type HookName } from '../receivers/ebpf/features.js';
import { loadAddon } from '../receivers/ebpf/bindings.js';

export interface Verdict {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DoctorReport {
  features: FeatureReport;
  libbpf: string;
  receivers: Verdict[];
  features_: Verdict[];
}

const ORDER: HookName[] = ['tracepoint', 'syscall_tracepoint', 'raw_tp', 'tp_btf', 'iter_tcp', 'iter_task_file', 'ringbuf', 'sockops', 'kprobe', 'fentry'];

/** Judges what will work from the raw probe results. */
export function judge(f: FeatureReport): { receivers: Verdict[]; features: Verdict[] } {
  const h = f.hooks;
  const stateHook = h.tp_btf?.ok ? 'tp_btf' : h.raw_tp?.ok ? 'raw_tp' : undefined;
  const ebpfProblems: string[] = [];
  if (!f.privileges.canTrace) ebpfProblems.push('needs root, or CAP_BPF and CAP_PERFMON');
  if (!f.kernel.ok) ebpfProblems.push(`kernel ${f.kernel.release} is older than 5.8`);
  if (!h.ringbuf?.ok) ebpfProblems.push(`no BPF ring buffer (${h.ringbuf?.detail})`);
  if (!stateHook) ebpfProblems.push('neither tp_btf nor raw_tp attaches to sock:inet_sock_set_state');
  const receivers: Verdict[] = [
    {
      name: 'ebpf',
      ok: ebpfProblems.length === 0,
      detail: ebpfProblems.length ? ebpfProblems.join('; ') : `state changes via ${stateHook}; every event kind`,
    },
    {
      name: 'sockdiag',
      ok: true,
      detail: f.privileges.uid === 0 ? 'polls every TCP socket with netlink inet_diag (no eBPF needed)' : 'polls TCP sockets with netlink inet_diag; without root, owners only for your own processes',
    },
  ];
  const accept = h.syscall_tracepoint?.ok ? 'syscalls:sys_exit_accept4 tracepoint' : h.tp_btf?.ok ? 'tp_btf sys_exit (every syscall exit: costs more)' : undefined;
  const features: Verdict[] = [
    { name: 'connection events (open, close, failed, resets, retransmits)', ok: !!stateHook && receivers[0]!.ok, detail: stateHook ? `via ${stateHook}` : 'no state-change hook' },
    { name: 'owners of accepted connections', ok: !!accept, detail: accept ?? 'no accept hook: the listening process is reported instead' },
    {
      name: 'connects that fail before their first SYN (no route, ...)',
      ok: !!h.syscall_tracepoint?.ok,
      detail: h.syscall_tracepoint?.ok ? 'syscalls:sys_exit_connect tracepoint' : `needs syscall tracepoints: ${h.syscall_tracepoint?.detail}`,
    },
    { name: 'connections open before start (snapshot)', ok: !!(h.iter_tcp?.ok && h.iter_task_file?.ok), detail: h.iter_tcp?.ok ? (h.iter_task_file?.ok ? 'iter/tcp + iter/task_file' : 'iter/tcp only: no owners') : `iter/tcp: ${h.iter_tcp?.detail}` },
    {
      name: "containers' network namespaces too",
      ok: !!h.iter_tcp?.ok && f.privileges.capSysAdmin,
      detail: !h.iter_tcp?.ok ? `iter/tcp: ${h.iter_tcp?.detail}` : f.privileges.capSysAdmin ? 'setns() into each namespace for the iterators' : 'needs CAP_SYS_ADMIN to enter them: their connections are still reported as they open and close',
    },
    { name: 'live counters of long-lived connections', ok: !!h.iter_tcp?.ok, detail: h.iter_tcp?.ok ? 'iter/tcp, no per-packet cost' : `iter/tcp: ${h.iter_tcp?.detail}` },
    { name: 'tracefs for classic tracepoints', ok: f.tracefs.ok, detail: f.tracefs.detail },
  ];
  return { receivers, features };
}

export function doctorReport(): DoctorReport {
  const features = probeFeatures();
  const j = judge(features);
  return { features, libbpf: loadAddon().libbpfVersion(), receivers: j.receivers, features_: j.features };
}

function mark(ok: boolean): string {
  return ok ? 'yes' : 'NO ';
}

export function formatReport(r: DoctorReport): string {
  const f = r.features;
  const lines: string[] = [];
  const p = f.privileges;
  lines.push('tcpotel doctor');
  lines.push('');
  lines.push(`  kernel      ${f.kernel.release} ${f.kernel.ok ? '(ok: 5.8 or newer)' : '(TOO OLD: the eBPF receiver needs 5.8+)'}`);
  lines.push(`  BTF         ${f.btf.ok ? f.btf.path : `missing (${f.btf.path}): the kernel needs CONFIG_DEBUG_INFO_BTF=y`}`);
  lines.push(`  privileges  uid ${p.uid}; CAP_BPF ${p.capBpf ? 'yes' : 'no'}, CAP_PERFMON ${p.capPerfmon ? 'yes' : 'no'}, CAP_SYS_ADMIN ${p.capSysAdmin ? 'yes' : 'no'}${p.canTrace ? '' : ' -> run as root, or grant CAP_BPF and CAP_PERFMON'}`);
  lines.push(`  tracefs     ${f.tracefs.detail}`);
  lines.push(`  libbpf      ${r.libbpf}`);
  lines.push('');
  lines.push('  hooks');
  for (const name of ORDER) {
    const hook = f.hooks[name];
    if (!hook) continue;
    lines.push(`    ${mark(hook.ok)}  ${hook.description.padEnd(48)} ${hook.ok ? '' : hook.detail}`);
  }
  lines.push('');
  lines.push('  receivers');
  for (const v of r.receivers) lines.push(`    ${mark(v.ok)}  ${v.name.padEnd(10)} ${v.detail}`);
  lines.push('');
  lines.push('  features');
  for (const v of r.features_) lines.push(`    ${mark(v.ok)}  ${v.name.padEnd(62)} ${v.detail}`);
  lines.push('');
  return lines.join('\n');
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check the kernel, BTF, privileges, tracefs and each hook: which receivers and features will work, and why not')
    .option('--json', 'as JSON')
    .action((opts: { json?: boolean }) => {
      const r = doctorReport();
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            {
              kernel: r.features.kernel,
              btf: r.features.btf,
              privileges: r.features.privileges,
              tracefs: r.features.tracefs,
              libbpf: r.libbpf,
              hooks: r.features.hooks,
              receivers: r.receivers,
              features: r.features_,
            },
            null,
            2,
          ) + '\n',
        );
      } else {
        process.stdout.write(formatReport(r));
      }
      if (!r.receivers.some((v) => v.ok)) process.exitCode = 1;
    });
}
