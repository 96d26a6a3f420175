/**
 * The eBPF half of the addon (native/tracer.cc, native/probes.cc, native/system.cc), typed.
 * Every libbpf and system failure arrives as a NativeError.
 */

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
  /** Aggregates computed in the kernel (see receivers/ebpf/kernel-aggregate.ts nativeAggregate), and the kinds they take. */
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

/** What collect() returns: one window of a kernel aggregate. */
export interface NativeWindow {
  rows: number;
  keySize: number;
  keys: Buffer;
  counters: Float64Array;
  hists: Float64Array[];
  failedKeys: Buffer;
  failedCounts: Float64Array;
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
  /** Ends the window of kernel aggregate `slot` and returns its series. */
  collect(slot: number): NativeWindow;
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
  /** struct tcpotel_agg_key: field offsets and its size. */
  aggKey: Record<string, number>;
  /** The record's flag bits and the iterator modes, by name (as src/native/records.ts FLAG, ITER_MODE). */
  flags: Record<string, number>;
  iterModes: Record<string, number>;
  statsSize: number;
  kinds: number;
  maxPorts: number;
}

export interface TracerNative {
  Tracer: new (options: TracerOptions) => NativeTracer;
  probe(program: string, attach?: boolean, cgroupPath?: string): ProbeResult;
  tracefs(mountIfMissing: boolean): { ok: boolean; path?: string; mounted?: boolean; errno?: number; code?: string; message?: string };
  layout(): NativeLayout;
  libbpfVersion(): string;
  numPossibleCpus(): number;
  /** Turns on the kernel's BPF run-time statistics while the returned fd is open (closeFd ends it). */
  enableStats(): number;
  closeFd(fd: number): void;
  /** setuid/setgid to an unprivileged user, keeping CAP_BPF and CAP_PERFMON on the calling thread only. */
  dropPrivileges(uid: number, gid: number): void;
}
