import { z } from 'zod';
import { byteSize, duration, port } from '../../config/units.js';

export const ebpfConfigSchema = z
  .strictObject({
    /** Size of the kernel ring buffer: a power of two, at least 4 KiB. */
    ring_buffer_size: byteSize().refine((n) => n >= 4096 && (n & (n - 1)) === 0, {
      message: 'ring_buffer_size must be a power of two of at least 4096 bytes (e.g. 4MiB, 16MiB)',
    }),
    /** Sockets tracked in the kernel at once (LRU); evictions are counted. */
    max_sockets: z.number().int().min(1024).max(16_777_216),
    /** Emit every TCP state transition (like tcpstates). */
    state_changes: z.boolean(),
    /**
     * Tell each connection's protocol (and TLS server name, HTTP method and Host) from its
     * first payload bytes, as network.protocol.name on its events and a key for aggregates.
     */
    detect_protocol: z.boolean(),
    /** At start, report the connections already open. */
    snapshot: z.boolean(),
    /** Read live counters of open connections this often; 0 turns it off. */
    sample_interval: duration(),
    /**
     * The share of one CPU the live samples may take: a sample walks every TCP socket of the
     * host (TIME_WAIT ones too), so with very many of them its interval stretches to stay
     * within this (up to a minute).
     */
    sample_budget: z.number().gt(0).max(1),
    /**
     * Where the snapshot and the live samples look: every network namespace on the host
     * (containers' too, found in /proc at most 10 s ago; needs CAP_SYS_ADMIN to enter
     * them), or only tcpotel's own.
     */
    namespaces: z.enum(['all', 'own']),
    /** How long the consumer waits for the kernel before looking anyway. */
    poll_interval: duration().refine((ms) => ms >= 1 && ms <= 1000, { message: 'poll_interval must be between 1ms and 1s' }),
    /** Records held in user space while the pipeline is busy, before the kernel ring takes over. */
    user_buffer_size: byteSize().refine((n) => n >= 1 << 20, { message: 'user_buffer_size must be at least 1MiB' }),
    /** Wake the consumer only once this much is waiting (0: on every event). */
    wakeup_batch: byteSize(),
    /** Which twin programs to use; auto chooses what this kernel supports. */
    hooks: z.strictObject({
      state: z.enum(['auto', 'tp_btf', 'raw_tp']),
      accept: z.enum(['auto', 'tracepoint', 'sys_exit', 'none']),
      /** Connects that fail before their first SYN (no route, ...): syscall tracepoints of connect(). */
      connect: z.enum(['auto', 'tracepoint', 'none']),
    }),
    /** Where eBPF cannot run here (privileges, BTF, kernel): poll sock_diag instead, or fail. */
    fallback: z.enum(['sockdiag', 'none']),
    /** Filters applied in the kernel, before anything is copied out. */
    filter: z.strictObject({
      ports: z.array(port()).max(16, { message: 'at most 16 ports can be filtered in the kernel' }),
      family: z.enum(['any', 'ipv4', 'ipv6']),
      pid: z.number().int().nonnegative(),
    }),
  })
  .superRefine((c, ctx) => {
    if (c.wakeup_batch >= c.ring_buffer_size / 2) {
      ctx.addIssue({ code: 'custom', path: ['wakeup_batch'], message: 'wakeup_batch must be less than half of ring_buffer_size' });
    }
  });

export type EbpfConfig = z.output<typeof ebpfConfigSchema>;

export function defaultEbpfConfig() {
  return {
    ring_buffer_size: '16MiB',
    max_sockets: 131072,
    state_changes: false,
    detect_protocol: true,
    snapshot: true,
    sample_interval: '10s',
    sample_budget: 0.01,
    namespaces: 'all',
    poll_interval: '50ms',
    user_buffer_size: '128MiB',
    wakeup_batch: '64KiB',
    hooks: { state: 'auto', accept: 'auto', connect: 'auto' },
    fallback: 'sockdiag',
    filter: { ports: [] as number[], family: 'any', pid: 0 },
  };
}
