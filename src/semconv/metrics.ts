/**
 * Every metric tcpotel emits: name, instrument, unit, meaning. Exporters take their
 * descriptors from here; docs/reference.md documents each (a test keeps them in agreement).
 */

export type Instrument = 'counter' | 'updowncounter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  name: string;
  instrument: Instrument;
  unit: string;
  description: string;
  /** Attributes the metric has besides the aggregate's key attributes. */
  attributes: readonly string[];
}

function def(name: string, instrument: Instrument, unit: string, description: string, attributes: string[] = []): MetricDefinition {
  return { name, instrument, unit, description, attributes };
}

/** Metrics produced by the aggregate processor from connection events. */
export const TCP_METRICS = {
  opened: def('tcp.connections.opened', 'counter', '{connection}', 'Connections established (connect or accept) since start.'),
  closed: def('tcp.connections.closed', 'counter', '{connection}', 'Connections closed since start.'),
  failed: def('tcp.connections.failed', 'counter', '{connection}', 'Connection attempts that failed, by reason.', ['error.type']),
  active: def('tcp.connections.active', 'updowncounter', '{connection}', 'Connections open now: opened, or open when tcpotel started, and not yet closed.'),
  io: def('tcp.io', 'counter', 'By', 'Bytes sent (and acknowledged) and received, by direction.', ['network.io.direction']),
  retransmits: def('tcp.retransmits', 'counter', '{segment}', 'Segments retransmitted.'),
  resets: def('tcp.resets', 'counter', '{reset}', 'Resets (RST) sent or received.', ['tcp.reset.direction']),
  segments: def('tcp.segments', 'counter', '{segment}', 'Segments sent and received, by direction: with tcp.retransmits, the loss of any series (retransmits / segments sent).', ['network.io.direction']),
  rtt: def('tcp.rtt', 'histogram', 's', 'Smoothed round-trip time of connections, sampled at close and at each live sample.'),
  handshake: def('tcp.handshake.duration', 'histogram', 's', 'Time from SYN to established: SYN_SENT to ESTABLISHED when connecting, the SYN-ACK round trip when accepting.'),
  duration: def('tcp.connection.duration', 'histogram', 's', 'Lifetime of closed connections, from connect() or SYN to CLOSE.'),
  loss: def('tcp.connection.loss', 'histogram', '1', 'Loss of closed connections: retransmitted segments per segment sent, one observation per connection (0: none lost).'),
  connectionCount: def(
    'system.network.connection.count',
    'gauge',
    '{connection}',
    'TCP sockets on the host by state, counted by the socket iterator (or sock_diag) at each sample.',
    ['network.connection.state', 'network.transport', 'network.type'],
  ),
} as const;

/** tcpotel's own metrics: what each component took in, passed on and dropped. */
export const SELF_METRICS_DEFS = {
  itemsIn: def('tcpotel.component.items.in', 'counter', '{item}', 'Items (events, metric points, log records) a component took in.', ['tcpotel.component.id', 'tcpotel.component.kind', 'tcpotel.pipeline.id', 'tcpotel.signal']),
  itemsOut: def('tcpotel.component.items.out', 'counter', '{item}', 'Items a component passed on (receivers and processors) or sent (exporters).', ['tcpotel.component.id', 'tcpotel.component.kind', 'tcpotel.pipeline.id', 'tcpotel.signal']),
  itemsDropped: def('tcpotel.component.items.dropped', 'counter', '{item}', 'Items a component dropped, by reason.', ['tcpotel.component.id', 'tcpotel.component.kind', 'tcpotel.pipeline.id', 'tcpotel.signal', 'tcpotel.drop.reason']),
  ebpfProduced: def('tcpotel.ebpf.events.produced', 'counter', '{event}', 'Events the kernel programs produced, by kind.', ['tcpotel.component.id', 'tcp.event.kind']),
  ebpfDropped: def('tcpotel.ebpf.events.dropped', 'counter', '{event}', 'Events the kernel could not put in the ring buffer (full), by kind.', ['tcpotel.component.id', 'tcp.event.kind', 'tcpotel.drop.reason']),
  ebpfUntracked: def('tcpotel.ebpf.sockets.untracked', 'counter', '{event}', 'Events for sockets without per-socket state in the kernel (evicted from the LRU map, or opened before start): their process may be unknown.', ['tcpotel.component.id']),
  ebpfFiltered: def('tcpotel.ebpf.events.filtered', 'counter', '{event}', 'Events suppressed in the kernel: by the receiver filter, or by a pipeline\u2019s own filter pushed down there (an event of a kind a pipeline takes as a record that its filter rejects).', ['tcpotel.component.id']),
  ebpfProgramsMissed: def('tcpotel.ebpf.programs.missed', 'counter', '{run}', 'Runs of a kernel program the kernel skipped because the program was already running on that CPU (a tracepoint hit inside it, from an interrupt): each a state change, retransmit or reset lost before any counter saw it.', ['tcpotel.component.id', 'tcpotel.ebpf.program', 'tcpotel.drop.reason']),
  ebpfNamespacesSkipped: def('tcpotel.ebpf.namespaces.skipped', 'counter', '{namespace}', 'Network namespaces a snapshot or live sample could not look into (entering them needs CAP_SYS_ADMIN), once per run: their connections got no snapshot or sample that time.', ['tcpotel.component.id']),
  ebpfSampleInterval: def('tcpotel.ebpf.sample.interval', 'gauge', 's', 'The live samples\u2019 interval now: sample_interval, stretched to keep them within sample_budget of one CPU when the host has very many sockets.', ['tcpotel.component.id']),
  sockdiagSocketsTracked: def('tcpotel.sockdiag.sockets.tracked', 'gauge', '{socket}', 'Sockets the sockdiag receiver tracks between dumps.', ['tcpotel.component.id']),
  sockdiagPolls: def('tcpotel.sockdiag.polls', 'counter', '{poll}', 'sock_diag dumps the sockdiag receiver made.', ['tcpotel.component.id']),
  sockdiagPollsFailed: def('tcpotel.sockdiag.polls.failed', 'counter', '{poll}', 'sock_diag dumps that failed (logged; the next poll tries again).', ['tcpotel.component.id']),
  seriesOverflow: def('tcpotel.aggregate.series.overflow', 'counter', '{update}', 'Updates folded into the otel.metric.overflow series because the series cap was reached.', ['tcpotel.component.id', 'tcpotel.pipeline.id']),
  connectionsEvicted: def('tcpotel.aggregate.connections.evicted', 'counter', '{connection}', 'Tracked connections evicted because max_connections was reached; their later bytes count as new.', ['tcpotel.component.id', 'tcpotel.pipeline.id']),
  processCacheEvicted: def('tcpotel.process.cache.evicted', 'counter', '{process}', 'Entries evicted from the process processor’s cache because cache_size was reached.', ['tcpotel.component.id', 'tcpotel.pipeline.id']),
  exporterConnectionsClosed: def(
    'tcpotel.exporter.connections.closed',
    'counter',
    '{connection}',
    'Client connections an endpoint (prometheus) closed on its own, by reason: connection_limit (to stay within max_connections), header_timeout, idle_timeout, slow_reader.',
    ['tcpotel.component.id', 'tcpotel.drop.reason'],
  ),
  exporterQueueSize: def('tcpotel.exporter.queue.size', 'gauge', '{batch}', 'Batches waiting in an exporter’s sending queue.', ['tcpotel.component.id']),
  memoryShedding: def('tcpotel.process.memory.shedding', 'gauge', '1', '1 while new data is shed (counted as dropped, reason memory_limit) because memory is over service::memory_limit, else 0.'),
  exporterQueueCapacity: def('tcpotel.exporter.queue.capacity', 'gauge', '{item}', 'Capacity of an exporter’s sending queue, in items.', ['tcpotel.component.id']),
} as const;

export const ALL_METRICS: readonly MetricDefinition[] = [...Object.values(TCP_METRICS), ...Object.values(SELF_METRICS_DEFS)];

const BY_NAME = new Map(ALL_METRICS.map((m) => [m.name, m]));

export function metricDefinition(name: string): MetricDefinition | undefined {
  return BY_NAME.get(name);
}

/** Default explicit bucket bounds, in seconds. */
export const DEFAULT_BOUNDS = {
  rtt: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  handshake: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  duration: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 86400],
  loss: [0, 0.0001, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
} as const;
