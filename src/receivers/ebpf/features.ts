/**
 * Feature probes, in one place: what this kernel and these privileges allow, which twin
 * programs to load, and clear errors where something is missing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { SetupError } from '../../core/errors.js';
import { loadAddon } from '../../native/addon.js';
import type { ProbeResult } from '../../native/tracer.js';

export interface HookReport {
  /** Probe program name in bpf/probe.bpf.c. */
  probe: string;
  description: string;
  ok: boolean;
  detail: string;
}

export interface PrivilegeReport {
  uid: number;
  capBpf: boolean;
  capPerfmon: boolean;
  capSysAdmin: boolean;
  capNetAdmin: boolean;
  /** Enough to load and attach tracing programs. */
  canTrace: boolean;
}

export interface FeatureReport {
  kernel: { release: string; major: number; minor: number; ok: boolean };
  btf: { ok: boolean; path: string };
  privileges: PrivilegeReport;
  tracefs: { ok: boolean; path?: string; mounted?: boolean; detail: string };
  hooks: Record<HookName, HookReport>;
}

export type HookName =
  | 'tp_btf'
  | 'raw_tp'
  | 'tracepoint'
  | 'syscall_tracepoint'
  | 'iter_tcp'
  | 'iter_task_file'
  | 'ringbuf'
  | 'sockops'
  | 'cgroup_skb'
  | 'kprobe'
  | 'fentry';

const HOOKS: Record<HookName, { probe: string; description: string }> = {
  tp_btf: { probe: 'probe_tp_btf', description: 'BTF-typed tracepoints (tp_btf)' },
  raw_tp: { probe: 'probe_raw_tp', description: 'raw tracepoints (raw_tp)' },
  tracepoint: { probe: 'probe_tracepoint', description: 'classic tracepoints (sock:inet_sock_set_state)' },
  syscall_tracepoint: { probe: 'probe_syscall_tracepoint', description: 'syscall tracepoints (syscalls:sys_exit_accept4)' },
  iter_tcp: { probe: 'probe_iter_tcp', description: 'TCP socket iterator (iter/tcp)' },
  iter_task_file: { probe: 'probe_iter_task_file', description: 'task file iterator (iter/task_file)' },
  ringbuf: { probe: 'probe_ringbuf', description: 'BPF ring buffer' },
  sockops: { probe: 'probe_sockops', description: 'sock_ops on the cgroup v2 root' },
  cgroup_skb: { probe: 'probe_cgroup_skb', description: 'cgroup_skb on the cgroup v2 root (protocol detection)' },
  kprobe: { probe: 'probe_kprobe', description: 'kprobes' },
  fentry: { probe: 'probe_fentry', description: 'fentry/fexit (BPF trampolines)' },
};

export const MIN_KERNEL: [number, number] = [5, 8];
export const BTF_PATH = '/sys/kernel/btf/vmlinux';

const CAP = { NET_ADMIN: 12, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

export function readPrivileges(): PrivilegeReport {
  let capEff = 0n;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) capEff = BigInt('0x' + m[1]);
  } catch {
    /* not Linux, or no /proc */
  }
  const has = (bit: number) => (capEff & (1n << BigInt(bit))) !== 0n;
  const capSysAdmin = has(CAP.SYS_ADMIN);
  const capBpf = has(CAP.BPF);
  const capPerfmon = has(CAP.PERFMON);
  return {
    uid: process.getuid?.() ?? -1,
    capBpf,
    capPerfmon,
    capSysAdmin,
    capNetAdmin: has(CAP.NET_ADMIN),
    canTrace: capSysAdmin || (capBpf && capPerfmon),
  };
}

export function kernelVersion(rel = release()): { release: string; major: number; minor: number; ok: boolean } {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  const major = m ? Number(m[1]) : 0;
  const minor = m ? Number(m[2]) : 0;
  const ok = major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1]);
  return { release: rel, major, minor, ok };
}

export function cgroup2Root(): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, mnt, type] = line.split(' ');
      if (type === 'cgroup2' && mnt) return mnt;
    }
  } catch {
    /* ignore */
  }
  return undefined;
}

function describe(r: ProbeResult): string {
  if (r.ok) return 'available';
  if (r.code === 'EPERM' && r.op === 'load') return `not permitted by this kernel (${r.message})`;
  if (r.code === 'ENOENT' && r.op === 'attach') return `no attach point (${r.message})`;
  return r.message ?? 'unavailable';
}

/**
 * Checks the kernel, BTF, privileges and tracefs, then loads each probe program.
 * Never throws for a missing feature: the report says what is missing.
 */
export function probeFeatures(opts: { mountTracefs?: boolean; hooks?: HookName[] } = {}): FeatureReport {
  const kernel = kernelVersion();
  const btf = { ok: existsSync(BTF_PATH), path: BTF_PATH };
  const privileges = readPrivileges();
  const addon = loadAddon();
  const tf = addon.tracefs(opts.mountTracefs ?? privileges.capSysAdmin);
  const tracefs = {
    ok: tf.ok,
    path: tf.path,
    mounted: tf.mounted,
    detail: tf.ok ? (tf.mounted ? `mounted at ${tf.path}` : `at ${tf.path}`) : (tf.message ?? 'not mounted'),
  };
  const hooks = {} as Record<HookName, HookReport>;
  const wanted = opts.hooks ?? (Object.keys(HOOKS) as HookName[]);
  for (const name of Object.keys(HOOKS) as HookName[]) {
    const h = HOOKS[name];
    if (!wanted.includes(name)) continue;
    let r: ProbeResult;
    if (!privileges.canTrace) {
      r = { ok: false, message: 'needs root, or CAP_BPF and CAP_PERFMON' };
    } else if ((name === 'tracepoint' || name === 'syscall_tracepoint') && !tracefs.ok) {
      r = { ok: false, message: `tracefs is unavailable: ${tracefs.detail}` };
    } else if (name === 'sockops' || name === 'cgroup_skb') {
      const root = cgroup2Root();
      r = root ? addon.probe(h.probe, true, root) : { ok: false, message: 'no cgroup v2 mount' };
    } else if (!btf.ok && (name === 'tp_btf' || name === 'iter_tcp' || name === 'iter_task_file' || name === 'fentry')) {
      r = { ok: false, message: `needs kernel BTF (${BTF_PATH})` };
    } else {
      r = addon.probe(h.probe, true);
    }
    hooks[name] = { probe: h.probe, description: h.description, ok: r.ok, detail: describe(r) };
  }
  return { kernel, btf, privileges, tracefs, hooks };
}

export interface ProgramChoice {
  programs: Record<string, boolean>;
  /** How each concern is covered, for logs and `doctor`. */
  plan: { stateChanges: string; accept: string; connectErrors: string; iterators: string; protocols: string };
  /** Protocol detection runs (cgroup_skb programs on this cgroup v2 root). */
  detectProtocol?: { cgroupPath: string };
  warnings: string[];
}

/** Chooses between twin programs. Throws a SetupError when the essentials are missing. */
export interface HookPreferences {
  /** auto: tp_btf where it loads, else raw_tp. */
  state?: 'auto' | 'tp_btf' | 'raw_tp';
  /** auto: the syscall tracepoints where tracefs allows, else tp_btf sys_exit. */
  accept?: 'auto' | 'tracepoint' | 'sys_exit' | 'none';
  /**
   * Connects that fail before their first SYN (no route, ...), seen at connect()'s
   * syscall tracepoints. auto: where tracefs allows.
   */
  connect?: 'auto' | 'tracepoint' | 'none';
}

export function choosePrograms(report: FeatureReport, opts: { iterators: boolean; prefer?: HookPreferences; detectProtocol?: boolean }): ProgramChoice {
  const prefer = opts.prefer ?? {};
  // A preference makes the other twin unavailable; a preferred twin that does not work
  // fails with the usual message.
  const hooks = { ...report.hooks };
  const off = (h: HookReport, why: string): HookReport => ({ ...h, ok: false, detail: why });
  if (prefer.state === 'raw_tp') hooks.tp_btf = off(hooks.tp_btf, 'not chosen (hooks::state: raw_tp)');
  if (prefer.state === 'tp_btf') hooks.raw_tp = off(hooks.raw_tp, 'not chosen (hooks::state: tp_btf)');
  if (prefer.accept === 'sys_exit' || prefer.accept === 'none') hooks.syscall_tracepoint = off(hooks.syscall_tracepoint, `not chosen (hooks::accept: ${prefer.accept})`);
  if (!report.privileges.canTrace) {
    throw new SetupError(
      'the eBPF receiver needs privileges to load BPF programs',
      'run tcpotel as root, or give it CAP_BPF and CAP_PERFMON (plus CAP_SYS_ADMIN to mount tracefs), e.g. ' +
        "`sudo setcap cap_bpf,cap_perfmon,cap_sys_admin+ep $(readlink -f $(which node))`; or use the 'sockdiag' receiver, which needs no privileges",
    );
  }
  if (!report.kernel.ok) {
    throw new SetupError(
      `kernel ${report.kernel.release} is too old for the eBPF receiver (needs ${MIN_KERNEL.join('.')} or newer: BPF ring buffer)`,
      "use the 'sockdiag' receiver on this host",
    );
  }
  if (!hooks.ringbuf.ok) {
    throw new SetupError(`the BPF ring buffer is unavailable: ${hooks.ringbuf.detail}`, "use the 'sockdiag' receiver on this host");
  }
  const programs: Record<string, boolean> = {};
  const warnings: string[] = [];
  let stateChanges: string;
  let raw = false;
  if (hooks.tp_btf.ok) {
    stateChanges = 'tp_btf';
  } else if (hooks.raw_tp.ok) {
    stateChanges = 'raw_tp';
    raw = true;
    warnings.push(`tp_btf is unavailable (${hooks.tp_btf.detail}): using raw_tp twins`);
  } else {
    const noBtf = !report.btf.ok ? ` This kernel has no BTF (${BTF_PATH}): it needs CONFIG_DEBUG_INFO_BTF=y.` : '';
    throw new SetupError(
      `neither tp_btf nor raw_tp programs can be attached to sock:inet_sock_set_state (${hooks.tp_btf.detail}; ${hooks.raw_tp.detail}).${noBtf}`,
      "run `tcpotel doctor` for details, or use the 'sockdiag' receiver",
    );
  }
  const prefix = raw ? 'raw_' : 'btf_';
  for (const hook of ['inet_sock_set_state', 'tcp_destroy_sock', 'tcp_retransmit_skb', 'tcp_send_reset', 'tcp_receive_reset']) {
    programs[prefix + hook] = true;
  }
  let accept: string;
  if (hooks.syscall_tracepoint.ok) {
    accept = 'tracepoint syscalls:sys_exit_accept4 and sys_exit_accept';
    programs.tp_sys_exit_accept4 = true;
    programs.tp_sys_exit_accept = true;
  } else if (prefer.accept === 'none') {
    accept = 'none (hooks::accept: none): accepted connections carry their listener’s owner';
  } else if (report.hooks.tp_btf.ok) {
    accept = 'tp_btf sys_exit, filtered by syscall number';
    programs.btf_sys_exit = true;
    if (prefer.accept !== 'sys_exit') {
      warnings.push(`syscall tracepoints are unavailable (${hooks.syscall_tracepoint.detail}): watching every syscall exit instead, which costs more`);
    }
  } else {
    accept = 'none: accepted connections carry their listener’s owner';
    warnings.push('no accept hook: accepted connections are attributed to the process that listens');
  }
  let connectErrors: string;
  if (prefer.connect === 'none') {
    connectErrors = 'none (hooks::connect: none): connects that fail before their first SYN are not reported';
  } else if (report.hooks.syscall_tracepoint.ok) {
    connectErrors = 'tracepoint syscalls:sys_exit_connect (the call\'s arguments read back from its registers)';
    programs.tp_sys_exit_connect = true;
  } else if (prefer.connect === 'tracepoint') {
    throw new SetupError(
      `hooks::connect: tracepoint, but syscall tracepoints are unavailable (${report.hooks.syscall_tracepoint.detail})`,
      'mount tracefs (tcpotel mounts it when it has CAP_SYS_ADMIN), or set hooks::connect to auto or none',
    );
  } else {
    connectErrors = 'none: syscall tracepoints are unavailable';
    warnings.push(`syscall tracepoints are unavailable (${report.hooks.syscall_tracepoint.detail}): connects that fail before their first SYN (no route, ...) are not reported`);
  }
  let iterators = 'off';
  if (opts.iterators) {
    if (hooks.iter_tcp.ok && hooks.iter_task_file.ok) {
      iterators = 'iter/tcp and iter/task_file';
      programs.iter_tcp = true;
      programs.iter_task_file = true;
    } else if (hooks.iter_tcp.ok) {
      iterators = 'iter/tcp (no owners for pre-existing connections)';
      programs.iter_tcp = true;
      warnings.push(`iter/task_file is unavailable (${hooks.iter_task_file.detail}): pre-existing connections have no process`);
    } else {
      warnings.push(`iter/tcp is unavailable (${hooks.iter_tcp.detail}): no startup snapshot and no live counters`);
    }
  }
  // Protocol detection: the first payload bytes of each socket, read by cgroup_skb programs
  // on the cgroup v2 root and kept in the socket's state, which the state-change program
  // reads (with the tp_btf programs only: the raw_tp twins leave it out).
  let protocols = 'off (detect_protocol: false)';
  let detectProtocol: ProgramChoice['detectProtocol'];
  if (opts.detectProtocol) {
    const root = cgroup2Root();
    const cg = report.hooks.cgroup_skb;
    if (!cg || !cg.ok || !root) {
      protocols = `unavailable: ${cg?.detail ?? 'not probed'}`;
      warnings.push(`protocol detection is unavailable (${cg?.detail ?? 'cgroup_skb not probed'}): network.protocol.name is left out; set detect_protocol: false to silence this`);
    } else if (raw) {
      protocols = 'unavailable: needs the tp_btf programs (the raw_tp twins leave it out)';
      warnings.push('protocol detection needs the tp_btf programs (the raw_tp twins leave it out): network.protocol.name is left out');
    } else {
      protocols = `cgroup_skb ingress and egress on ${root}`;
      programs.cg_egress = true;
      programs.cg_ingress = true;
      detectProtocol = { cgroupPath: root };
    }
  }
  return { programs, plan: { stateChanges, accept, connectErrors, iterators, protocols }, warnings, detectProtocol };
}
