/**
 * Aggregate pushdown, the receiver's half: an `aggregate` processor's key set and filters
 * turned into the kernel's layout (struct tcpotel_agg_spec, bpf/tcpotel.h), and each
 * window the kernel hands back (struct tcpotel_agg_key rows with summed counters) turned
 * into the same table the JavaScript aggregator produces.
 */
import type { AttributeValue, Direction, EventKind } from '../../core/events.js';
import { EVENT_KINDS, errorType } from '../../core/events.js';
import type { Attributes, HistogramColumn, SeriesTable } from '../../core/metrics.js';
import type { KernelAggregateSpec, KernelFilter } from '../../core/pushdown.js';
import { ATTR } from '../../semconv/attributes.js';
import { TCP_METRICS } from '../../semconv/metrics.js';
import { HIST_UNITS, OVERFLOW_ATTRS, OVERFLOW_KEY, integerBounds } from '../../processors/aggregate/window.js';
import { formatIPv4, formatIPv6 } from '../../native/address.js';
import type { NativeWindow } from '../../native/tracer.js';
import { PROTOCOL_BY_CODE } from './record.js';

/** Limits of the kernel side (bpf/tcpotel.h). */
export const KERNEL_LIMITS = { slots: 4, bounds: 24, conds: 4, portRanges: 8, consumers: 4 } as const;

/** enum tcpotel_key_field */
const K = { FAMILY: 1, ROLE: 2, PID: 4, COMM: 8, CGROUP: 16, NETNS: 32, PROTO: 64, NAME: 128 } as const;
/** enum tcpotel_endpoint_src */
const SRC = { NONE: 0, LOCAL: 1, REMOTE: 2, CLIENT: 3, SERVER: 4 } as const;
type Src = (typeof SRC)[keyof typeof SRC];

/** struct tcpotel_agg_key */
export const AGG_KEY = {
  /** With the name (keyed on tls.server.name); without it, the key stops at `name`. */
  size: 144,
  gen: 0,
  overflow: 1,
  family: 2,
  role: 3,
  errcode: 4,
  port: [6, 8],
  proto: 10,
  pid: 12,
  netns: 16,
  cgroup: 24,
  addr: [32, 48],
  comm: 64,
  name: 80,
} as const;

const ADDRESS_SRC: Record<string, Src> = {
  [ATTR.networkLocalAddress]: SRC.LOCAL,
  [ATTR.networkPeerAddress]: SRC.REMOTE,
  [ATTR.clientAddress]: SRC.CLIENT,
  [ATTR.serverAddress]: SRC.SERVER,
};
const PORT_SRC: Record<string, Src> = {
  [ATTR.networkLocalPort]: SRC.LOCAL,
  [ATTR.networkPeerPort]: SRC.REMOTE,
  [ATTR.clientPort]: SRC.CLIENT,
  [ATTR.serverPort]: SRC.SERVER,
};
const FIELD_BITS: Record<string, number> = {
  [ATTR.networkType]: K.FAMILY,
  [ATTR.handshakeRole]: K.ROLE,
  [ATTR.processPid]: K.PID,
  [ATTR.processExecutableName]: K.COMM,
  [ATTR.cgroupId]: K.CGROUP,
  [ATTR.netns]: K.NETNS,
  [ATTR.networkProtocolName]: K.PROTO,
  [ATTR.tlsServerName]: K.NAME,
};

/** Attribute names the kernel can key on. */
export const KERNEL_KEY_ATTRIBUTES: readonly string[] = [ATTR.networkTransport, ...Object.keys(FIELD_BITS), ...Object.keys(ADDRESS_SRC), ...Object.keys(PORT_SRC)];

/** How one key attribute is read back from a key. */
type Reader = (b: Buffer, off: number) => AttributeValue | undefined;

export interface KeyLayout {
  key: number;
  addr: [Src, Src];
  port: [Src, Src];
  /** In the aggregate's key order. */
  readers: Array<{ name: string; read: Reader }>;
}

const known = (b: Buffer, off: number) => b[off + AGG_KEY.role] !== 0;

function addressReader(slot: 0 | 1, src: Src): Reader {
  const at = AGG_KEY.addr[slot];
  const directional = src === SRC.CLIENT || src === SRC.SERVER;
  return (b, off) => {
    if (directional && !known(b, off)) return undefined;
    return b[off + AGG_KEY.family] === 6 ? formatIPv6(b, off + at) : formatIPv4(b, off + at);
  };
}

function portReader(slot: 0 | 1, src: Src): Reader {
  const at = AGG_KEY.port[slot];
  const directional = src === SRC.CLIENT || src === SRC.SERVER;
  return (b, off) => (directional && !known(b, off) ? undefined : b.readUInt16LE(off + at));
}

const FIELD_READERS: Record<string, Reader> = {
  [ATTR.networkTransport]: () => 'tcp',
  [ATTR.networkType]: (b, off) => (b[off + AGG_KEY.family] === 6 ? 'ipv6' : 'ipv4'),
  [ATTR.handshakeRole]: (b, off) => (b[off + AGG_KEY.role] === 1 ? 'client' : b[off + AGG_KEY.role] === 2 ? 'server' : undefined),
  [ATTR.processPid]: (b, off) => b.readUInt32LE(off + AGG_KEY.pid) || undefined,
  [ATTR.processExecutableName]: (b, off) => {
    let end = off + AGG_KEY.comm;
    const max = end + 16;
    while (end < max && b[end] !== 0) end++;
    return end === off + AGG_KEY.comm ? undefined : b.toString('utf8', off + AGG_KEY.comm, end);
  },
  [ATTR.cgroupId]: (b, off) => b.readUInt32LE(off + AGG_KEY.cgroup) + b.readUInt32LE(off + AGG_KEY.cgroup + 4) * 4294967296 || undefined,
  [ATTR.netns]: (b, off) => b.readUInt32LE(off + AGG_KEY.netns) || undefined,
  [ATTR.networkProtocolName]: (b, off) => PROTOCOL_BY_CODE[b[off + AGG_KEY.proto]!],
  // The name of a TLS connection (its SNI): the kernel keeps a Host header there for HTTP.
  [ATTR.tlsServerName]: (b, off) => {
    if (PROTOCOL_BY_CODE[b[off + AGG_KEY.proto]!] !== 'tls') return undefined;
    let end = off + AGG_KEY.name;
    const max = end + 64;
    while (end < max && b[end] !== 0) end++;
    return end === off + AGG_KEY.name ? undefined : b.toString('latin1', off + AGG_KEY.name, end);
  },
};

/** The kernel layout of a key set, or why the kernel cannot key on it. */
export function kernelKeyLayout(keys: readonly string[]): KeyLayout | string {
  let key = 0;
  const addr: Src[] = [];
  const port: Src[] = [];
  const readers: KeyLayout['readers'] = [];
  for (const name of keys) {
    if (name in ADDRESS_SRC) {
      if (addr.length === 2) return 'the kernel keys on at most two address attributes';
      const src = ADDRESS_SRC[name]!;
      if (src === SRC.CLIENT || src === SRC.SERVER) key |= K.ROLE;
      readers.push({ name, read: addressReader(addr.length as 0 | 1, src) });
      addr.push(src);
    } else if (name in PORT_SRC) {
      if (port.length === 2) return 'the kernel keys on at most two port attributes';
      const src = PORT_SRC[name]!;
      if (src === SRC.CLIENT || src === SRC.SERVER) key |= K.ROLE;
      readers.push({ name, read: portReader(port.length as 0 | 1, src) });
      port.push(src);
    } else if (name in FIELD_BITS || name === ATTR.networkTransport) {
      key |= FIELD_BITS[name] ?? 0;
      readers.push({ name, read: FIELD_READERS[name]! });
    } else {
      return `key "${name}" is not known in the kernel (it can key on ${KERNEL_KEY_ATTRIBUTES.join(', ')})`;
    }
  }
  while (addr.length < 2) addr.push(SRC.NONE);
  while (port.length < 2) port.push(SRC.NONE);
  return { key, addr: addr as [Src, Src], port: port as [Src, Src], readers };
}

const KIND_CODE = new Map<EventKind, number>(EVENT_KINDS.map((k, i) => [k, i + 1]));
const DIR_BIT: Record<Direction, number> = { outbound: 1, inbound: 2, unknown: 4 };

/** A filter in the native addon's form (struct tcpotel_filter). */
export function nativeFilter(f: KernelFilter): { conds: unknown[] } {
  return {
    conds: f.conds.map((c) => ({
      negate: c.negate,
      kinds: c.kinds ? c.kinds.reduce((m, k) => m | (1 << KIND_CODE.get(k)!), 0) : 0,
      family: c.family ?? 0,
      directions: c.directions ? c.directions.reduce((m, d) => m | DIR_BIT[d], 0) : 0,
      ports: c.ports ?? [],
      local: c.local ?? [],
      remote: c.remote ?? [],
    })),
  };
}

/** Kinds as the kernel's bit mask. */
export function kindMask(kinds: readonly EventKind[]): number {
  return kinds.reduce((m, k) => m | (1 << KIND_CODE.get(k)!), 0);
}

/** Whether an aggregate's series are about as many as its connections (then one shared map, not per CPU). */
function perConnection(layout: KeyLayout): boolean {
  return layout.port.some((s) => s === SRC.LOCAL || s === SRC.REMOTE || s === SRC.CLIENT);
}

/** An aggregate in the native addon's form (struct tcpotel_agg_spec and its map). */
export function nativeAggregate(spec: KernelAggregateSpec, layout: KeyLayout) {
  const h = spec.histograms;
  return {
    key: layout.key,
    // The key stops before the name unless it keys on it (hashing 64 bytes less).
    nameKeyed: (layout.key & K.NAME) !== 0,
    addr: layout.addr,
    port: layout.port,
    maxSeries: spec.maxSeries,
    bounds: [integerBounds(h.rtt, HIST_UNITS.rtt), integerBounds(h.handshake, HIST_UNITS.handshake), integerBounds(h.duration, HIST_UNITS.duration), integerBounds(h.loss, HIST_UNITS.loss)],
    filter: nativeFilter(spec.filter),
    // Few series: a map per CPU, no contention. As many series as connections: one map
    // (per-CPU copies of every row would cost memory times the CPUs).
    perCpu: !perConnection(layout),
    // Two windows' series (the one being read and the next), their failed-connect rows
    // and the overflow rows.
    maxEntries: Math.min(4 * spec.maxSeries + 64, 1 << 24),
  };
}

const OVERFLOW_ROW_ATTRS = OVERFLOW_ATTRS;

/** A window from the kernel as the aggregate's table: attributes and keys built when asked for. */
export function kernelTable(w: NativeWindow, spec: KernelAggregateSpec, layout: KeyLayout, signature: string): SeriesTable {
  const { keys, rows } = w;
  const size = w.keySize;
  if (size !== AGG_KEY.size && size !== AGG_KEY.name) throw new Error(`kernel aggregate keys are ${size} bytes, the decoder expects ${AGG_KEY.size} or ${AGG_KEY.name}`);
  let overflowRow = -1;
  for (let r = 0; r < rows; r++) if (keys[r * size + AGG_KEY.overflow] === 1) overflowRow = r;
  const attrs: (Attributes | undefined)[] = new Array(rows);
  const rowKeys: (string | undefined)[] = new Array(rows);
  const build = (row: number) => {
    if (row === overflowRow) {
      attrs[row] = OVERFLOW_ROW_ATTRS;
      rowKeys[row] = OVERFLOW_KEY;
      return;
    }
    const a: Attributes = {};
    let k = '';
    const off = row * size;
    for (const { name, read } of layout.readers) {
      const v = read(keys, off);
      k += `${v ?? ''}\u0001`;
      if (v !== undefined) a[name] = v;
    }
    attrs[row] = a;
    rowKeys[row] = k;
  };
  let failed: Map<number, Map<string, number>> | undefined;
  if (w.failedCounts.length) {
    failed = new Map();
    const rowOf = new Map<string, number>();
    for (let r = 0; r < rows; r++) rowOf.set(keys.toString('latin1', r * size, (r + 1) * size), r);
    const base = Buffer.alloc(size);
    for (let i = 0; i < w.failedCounts.length; i++) {
      w.failedKeys.copy(base, 0, i * size, (i + 1) * size);
      const code = base.readUInt16LE(AGG_KEY.errcode);
      base.writeUInt16LE(0, AGG_KEY.errcode);
      const row = rowOf.get(base.toString('latin1'));
      if (row === undefined) continue; // (its series' row is always made first)
      let m = failed.get(row);
      if (!m) failed.set(row, (m = new Map()));
      const reason = errorType(code === 0xffff ? 0 : code);
      m.set(reason, (m.get(reason) ?? 0) + w.failedCounts[i]!);
    }
  }
  const h = spec.histograms;
  const M = TCP_METRICS;
  const column = (name: string, bounds: readonly number[], unit: number, data: Float64Array): HistogramColumn => ({ name, bounds, unit, stride: 4 + bounds.length + 1, data });
  return {
    rows,
    counters: w.counters,
    hists: [
      column(M.rtt.name, h.rtt, HIST_UNITS.rtt, w.hists[0]!),
      column(M.handshake.name, h.handshake, HIST_UNITS.handshake, w.hists[1]!),
      column(M.duration.name, h.duration, HIST_UNITS.duration, w.hists[2]!),
      column(M.loss.name, h.loss, HIST_UNITS.loss, w.hists[3]!),
    ],
    overflowRow,
    signature,
    failed: (row) => failed?.get(row),
    attributes: (row) => {
      if (attrs[row] === undefined) build(row);
      return attrs[row]!;
    },
    key: (row) => {
      if (rowKeys[row] === undefined) build(row);
      return rowKeys[row]!;
    },
    hash: (row) => keyHash(keys, row * size, size),
  };
}

/** murmur3-style mix of a key's words, its generation byte left out. */
function keyHash(b: Buffer, off: number, size: number): number {
  let h = 0x9747b28c;
  for (let i = 0; i < size; i += 4) {
    let w = b.readUInt32LE(off + i);
    if (i === 0) w &= 0xffffff00;
    w = Math.imul(w, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** An empty window (after the receiver stopped). */
export function emptyTable(spec: KernelAggregateSpec, signature: string): SeriesTable {
  const h = spec.histograms;
  const M = TCP_METRICS;
  const column = (name: string, bounds: readonly number[], unit: number): HistogramColumn => ({ name, bounds, unit, stride: 4 + bounds.length + 1, data: new Float64Array(0) });
  return {
    rows: 0,
    counters: new Float64Array(0),
    hists: [column(M.rtt.name, h.rtt, HIST_UNITS.rtt), column(M.handshake.name, h.handshake, HIST_UNITS.handshake), column(M.duration.name, h.duration, HIST_UNITS.duration), column(M.loss.name, h.loss, HIST_UNITS.loss)],
    overflowRow: -1,
    signature,
    failed: () => undefined,
    attributes: () => ({}),
    key: () => '',
    hash: () => 0,
  };
}
