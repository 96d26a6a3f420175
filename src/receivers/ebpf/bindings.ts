/**
 * The native addon's surface (native/tcpotel.cc), typed. Every libbpf failure arrives
 * as a BpfError carrying the failed operation and errno.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../core/paths.js';

export class BpfError extends Error {
  override readonly name = 'BpfError';
  /** The libbpf operation that failed, e.g. "load" or "attach btf_inet_sock_set_state". */
  readonly op: string;
  readonly errno: number;
  /** Symbolic errno, e.g. "EPERM". */
  readonly code: string;
  /** libbpf's warnings before the failure (the verifier log, when loading failed). */
  readonly log: string;
  constructor(props: { message: string; op: string; errno: number; code: string; log?: string }) {
    super(props.message);
    this.op = props.op;
    this.errno = props.errno;
    this.code = props.code;
    this.log = props.log ?? '';
  }
}

export interface TracerOptions {
  ringBytes: number;
  maxSockets: number;
  /** 0 = both, 4 or 6 */
  family: number;
  /** 0 = any */
  pid: number;
  ports: number[];
  stateChanges: boolean;
  wakeupBytes: number;
  /** Program name -> load it. Programs not named are not loaded. */
  programs: Record<string, boolean>;
  /** Protocol detection on: the cgroup_skb programs are attached to this cgroup v2 root. */
  detectProtocol?: boolean;
  cgroupPath?: string;
  /** Kinds sent as records (bit 1 << kind; default: all), and the filters of their consumers. */
  recordKinds?: number;
  consumers?: unknown[];
  /** Aggregates computed in the kernel (see kernel-aggregate.ts nativeAggregate), and the kinds they take. */
  aggregates?: unknown[];
  aggregateKinds?: number;
}

export interface KernelStats {
  produced: number[];
  dropped: number[];
  untracked: number;
  filtered: number;
  /** Per kernel aggregate: updates folded into its overflow series; updates lost to a full map. */
  aggregateOverflow: number[];
  aggregateMapFull: number[];
  /** Ring records of an unexpected size, skipped. */
  badRecords: number;
  ringBytes: number;
  maxSockets: number;
}

export interface ProgramInfo {
  name: string;
  section: string;
  id?: number;
  attached: boolean;
  /** With kernel.bpf_stats_enabled=1: runs and their total time. */
  runCount?: number;
  runTimeNs?: number;
  /** Runs skipped because the program was already running on that CPU. */
  recursionMisses?: number;
}

export interface NativeTracer {
  load(): void;
  attach(): void;
  /**
   * Records flow to onChunk(records) from a consumer thread. If the consumer stops on its
   * own (a ring poll error), or onChunk throws, onChunk(undefined, error) says why, once.
   */
  start(onChunk: (records: Buffer | undefined, error?: Error) => void, options: { pollMs: number; maxPendingBytes?: number }): void;
  /** Tests only: the consumer's next poll fails with this errno. */
  injectPollError(errno: number): void;
  /** Detaches every program, then resolves once every record has been handed to onChunk. */
  stop(): Promise<void>;
  /**
   * Runs the iterators (our network namespace, then each of `netns`, entered for that
   * moment): their records, and the namespaces that could not be entered. Once started,
   * the records are queued into the ring's stream instead (`queued`), merged in time order,
   * and reach onChunk shortly.
   */
  iterate(mode: number, netns?: string[]): { records: Buffer; queued: boolean; failed: Array<{ path: string; errno: number; code: string }> };
  stateCounts(): { v4: number[]; v6: number[] };
  stats(): KernelStats;
  trackedSockets(): number;
  programs(): ProgramInfo[];
  /** Ends the window of kernel aggregate `slot` and returns its series (kernel-aggregate.ts NativeWindow). */
  collect(slot: number): import('./kernel-aggregate.js').NativeWindow;
  close(): void;
}

export interface ProbeResult {
  ok: boolean;
  op?: string;
  errno?: number;
  code?: string;
  message?: string;
  log?: string;
}

export interface NativeLayout {
  eventSize: number;
  offsets: Record<string, number>;
  statsSize: number;
  kinds: number;
  maxPorts: number;
}

export interface NativeAddon {
  Tracer: new (options: TracerOptions) => NativeTracer;
  probe(program: string, attach?: boolean, cgroupPath?: string): ProbeResult;
  tracefs(mountIfMissing: boolean): { ok: boolean; path?: string; mounted?: boolean; errno?: number; code?: string; message?: string };
  layout(): NativeLayout;
  setErrorClass(cls: typeof BpfError): void;
  libbpfVersion(): string;
  numPossibleCpus(): number;
  /** Turns on the kernel's BPF run-time statistics while the returned fd is open (closeFd ends it). */
  enableStats(): number;
  closeFd(fd: number): void;
  /** setuid/setgid to an unprivileged user, keeping CAP_BPF and CAP_PERFMON on the calling thread only. */
  dropPrivileges(uid: number, gid: number): void;
}

let addon: NativeAddon | undefined;

export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'tcpotel.node');
}

/** Loads the addon once; a clear error when it was not built. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(`the native addon is not built (${path} is missing): run 'make' in ${packageRoot()}`);
  }
  const require = createRequire(import.meta.url);
  addon = require(path) as NativeAddon;
  addon.setErrorClass(BpfError);
  return addon;
}
