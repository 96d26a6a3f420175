/**
 * `tcpotel doctor`: what this kernel and these privileges allow, which receivers and
 * features will work, and why not.
 */
import type { Command } from 'commander';
import net from 'node:net';
import { cgroup2Root, probeFeatures, type FeatureReport, type HookName } from '../receivers/ebpf/features.js';
import { loadAddon } from '../native/addon.js';

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
  /** What protocol detection's programs cost here, measured (undefined when they cannot run). */
  protocolHookCost?: HookCost;
}

export interface HookCost {
  packets: number;
  nsPerPacket: number;
  connections: number;
}

const ORDER: HookName[] = ['tracepoint', 'syscall_tracepoint', 'raw_tp', 'tp_btf', 'iter_tcp', 'iter_task_file', 'ringbuf', 'sockops', 'cgroup_skb', 'kprobe', 'fentry'];

/**
 * Protocol detection's own cost on this host: its programs alone, on the cgroup v2 root,
 * under 100 loopback connections that each send a request and get a reply, with the
 * kernel's run-time statistics on for that moment.
 */
export async function measureProtocolHook(): Promise<HookCost | undefined> {
  const root = cgroup2Root();
  if (!root) return undefined;
  const addon = loadAddon();
  const tracer = new addon.Tracer({
    ringBytes: 1 << 16,
    maxSockets: 1024,
    family: 0,
    pid: 0,
    ports: [],
    stateChanges: false,
    wakeupBytes: 0,
    programs: { cg_egress: true, cg_ingress: true },
    detectProtocol: true,
    cgroupPath: root,
  });
  let stats = -1;
  try {
    tracer.load();
    tracer.attach();
    stats = addon.enableStats();
    const server = net.createServer((s) => {
      s.on('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
      s.on('error', () => undefined);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as net.AddressInfo).port;
    const connections = 100;
    for (let i = 0; i < connections; i++) {
      await new Promise<void>((ok) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: doctor.test\r\n\r\n'));
        c.on('data', () => c.end());
        c.on('close', () => ok());
        c.on('error', () => ok());
      });
    }
    server.close();
    let runs = 0;
    let ns = 0;
    for (const p of tracer.programs()) {
      runs += p.runCount ?? 0;
      ns += p.runTimeNs ?? 0;
    }
    return runs ? { packets: runs, nsPerPacket: Math.round(ns / runs), connections } : undefined;
  } catch {
    return undefined;
  } finally {
    if (stats >= 0) addon.closeFd(stats);
    tracer.close();
  }
}

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
    {
      name: 'protocol detection (network.protocol.name, TLS SNI, HTTP Host)',
      ok: !!h.cgroup_skb?.ok && !!h.tp_btf?.ok,
      detail: !h.cgroup_skb?.ok ? `cgroup_skb: ${h.cgroup_skb?.detail}` : !h.tp_btf?.ok ? 'needs the tp_btf programs (the raw_tp twins leave it out)' : 'cgroup_skb on the cgroup v2 root: the first payload bytes of each direction, once',
    },
    { name: 'tracefs for classic tracepoints', ok: f.tracefs.ok, detail: f.tracefs.detail },
  ];
  return { receivers, features };
}

export async function doctorReport(): Promise<DoctorReport> {
  const features = probeFeatures();
  const j = judge(features);
  const report: DoctorReport = { features, libbpf: loadAddon().libbpfVersion(), receivers: j.receivers, features_: j.features };
  const detection = j.features.find((v) => v.name.startsWith('protocol detection'));
  if (detection?.ok && features.privileges.canTrace) {
    report.protocolHookCost = await measureProtocolHook();
    if (report.protocolHookCost) detection.detail += `; costs ${report.protocolHookCost.nsPerPacket} ns per packet here (measured over ${report.protocolHookCost.packets} packets of ${report.protocolHookCost.connections} connections)`;
  }
  return report;
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
    .action(async (opts: { json?: boolean }) => {
      const r = await doctorReport();
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
              protocolHookCost: r.protocolHookCost,
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
