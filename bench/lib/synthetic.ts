/**
 * Synthetic connection events for the in-process benchmarks: a realistic mix of open,
 * sample, retransmit and close on a fixed population of five-tuples, packed into the
 * kernel's 152-byte records with the product's own encoder.
 */
import type { EventKind, TcpEvent } from '../../src/core/events.js';
import { encodeRecord } from '../../src/receivers/ebpf/record.js';
import { FLAG, RECORD_SIZE } from '../../src/native/records.js';
import { mulberry32 } from '../../src/core/hash.js';

/** Deterministic PRNG (the sample processor's mulberry32), so that every run gets the same records. */
export const prng = mulberry32;

/** Service ports the population talks to; 22 is what the benchmark's filter leaves out. */
export const SERVICE_PORTS = [80, 443, 443, 443, 5432, 6379, 8080, 8443, 9090, 9200, 22];
/** The filter the pipeline benchmark applies: keeps everything but the port-22 tuples. */
export const FILTER_PORTS = ['80', '443', '5432', '6379', '8000-9999'];

export interface Tuple {
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  outbound: boolean;
  comm: string;
  pid: number;
}

const COMMS = ['nginx', 'curl', 'postgres', 'redis-server', 'java', 'python3', 'node', 'envoy'];

/** `n` distinct five-tuples: 90% IPv4, 10% IPv6; two thirds outbound. */
export function tuples(n: number, seed = 1): Tuple[] {
  const rnd = prng(seed);
  const out: Tuple[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const v6 = rnd() < 0.1;
    const outbound = rnd() < 0.67;
    const service = SERVICE_PORTS[Math.floor(rnd() * SERVICE_PORTS.length)]!;
    const ephemeral = 32768 + Math.floor(rnd() * 28232);
    const local = v6 ? `fd00::${1 + Math.floor(rnd() * 4)}` : `10.0.0.${1 + Math.floor(rnd() * 4)}`;
    const host = Math.floor(rnd() * 2000);
    const remote = v6 ? `fd00:1::${(host + 1).toString(16)}` : `10.1.${host >> 8}.${(host & 255) || 1}`;
    const t: Tuple = {
      family: v6 ? 6 : 4,
      localAddress: local,
      localPort: outbound ? ephemeral : service,
      remoteAddress: remote,
      remotePort: outbound ? service : ephemeral,
      outbound,
      comm: COMMS[Math.floor(rnd() * COMMS.length)]!,
      pid: 1000 + Math.floor(rnd() * 200),
    };
    const key = `${t.family}|${t.localAddress}|${t.localPort}|${t.remoteAddress}|${t.remotePort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t);
  }
  return out;
}

/** A complete event with every field set (the encoder writes them all). */
export function makeEvent(t: Tuple, kind: EventKind, socketId: number, timeNs: number, extra: Partial<TcpEvent> = {}): TcpEvent {
  return {
    kind,
    timeNs,
    socketId,
    family: t.family,
    localAddress: t.localAddress,
    localPort: t.localPort,
    remoteAddress: t.remoteAddress,
    remotePort: t.remotePort,
    direction: t.outbound ? 'outbound' : 'inbound',
    pid: t.pid,
    tid: t.pid,
    comm: t.comm,
    cgroupId: 4242,
    netns: 4026531840,
    durationNs: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesRetransmitted: 0,
    handshakeNs: 0,
    segmentsIn: 0,
    segmentsOut: 0,
    retransmits: 0,
    srttUs: 0,
    oldState: 'established',
    newState: 'established',
    errno: 0,
    preexisting: false,
    resetSent: false,
    resetReceived: false,
    flags: t.outbound ? FLAG.ACTIVE | FLAG.OWNER : FLAG.PASSIVE | FLAG.OWNER,
    lost: 0,
    ...extra,
  };
}

interface Live {
  socketId: number;
  openedNs: number;
  sent: number;
  received: number;
  retrans: number;
  /** Events still to come before the close: samples and retransmits. */
  plan: EventKind[];
}

export interface RecordSet {
  /** Packed records, `recordsPerChunk` per buffer (the last may be shorter). */
  chunks: Buffer[];
  records: number;
  /** Records by kind. */
  mix: Record<string, number>;
  tuples: number;
}

/**
 * `count` records over `nTuples` five-tuples. Each connection of a tuple is open, then
 * 0-3 samples and (for one in six) 1-2 retransmits, then close; at the end every
 * connection still open is closed, so that replaying the set over and over keeps each
 * socket's story consistent. Resulting mix: about 27% open, 27% close, 40% sample,
 * 7% retransmit.
 */
export function recordSet(count: number, nTuples: number, recordsPerChunk: number, seed = 7): RecordSet {
  const rnd = prng(seed);
  const pop = tuples(nTuples, seed);
  const live: (Live | undefined)[] = new Array(pop.length);
  const events: TcpEvent[] = [];
  // Socket cookies are a kernel counter: small numbers on most hosts (ss -e shows them).
  let nextSocket = 1_000_001;
  let now = 1_000_000_000_000;
  const emit = (i: number) => {
    const t = pop[i]!;
    now += 1000 + Math.floor(rnd() * 5000);
    let c = live[i];
    if (!c) {
      const plan: EventKind[] = [];
      const samples = Math.floor(rnd() * 4);
      for (let k = 0; k < samples; k++) plan.push('sample');
      if (rnd() < 1 / 6) {
        plan.push('retransmit');
        if (rnd() < 0.5) plan.push('retransmit');
      }
      // shuffle the retransmits among the samples
      plan.sort(() => rnd() - 0.5);
      c = { socketId: nextSocket++, openedNs: now, sent: 0, received: 0, retrans: 0, plan };
      live[i] = c;
      const handshakeNs = 20_000 + Math.floor(rnd() * 200_000);
      events.push(makeEvent(t, 'open', c.socketId, now, { handshakeNs, durationNs: handshakeNs, srttUs: 50 + Math.floor(rnd() * 500), oldState: 'syn_sent' }));
      return;
    }
    c.sent += Math.floor(rnd() * 20_000);
    c.received += Math.floor(rnd() * 200_000);
    const srttUs = 50 + Math.floor(rnd() * 2000);
    const counters = { bytesSent: c.sent, bytesReceived: c.received, srttUs, segmentsIn: c.received >> 10, segmentsOut: c.sent >> 10 };
    const next = c.plan.shift();
    if (next === 'sample') {
      events.push(makeEvent(t, 'sample', c.socketId, now, { ...counters, retransmits: c.retrans }));
    } else if (next === 'retransmit') {
      c.retrans++;
      events.push(makeEvent(t, 'retransmit', c.socketId, now, { ...counters, retransmits: c.retrans, bytesRetransmitted: c.retrans * 1448, oldState: 'established', newState: 'established' }));
    } else {
      events.push(makeEvent(t, 'close', c.socketId, now, { ...counters, retransmits: c.retrans, durationNs: now - c.openedNs, oldState: 'last_ack', newState: 'closed' }));
      live[i] = undefined;
    }
  };
  while (events.length < count) emit(Math.floor(rnd() * pop.length));
  for (let i = 0; i < pop.length; i++) while (live[i]) emit(i);

  const mix: Record<string, number> = {};
  for (const e of events) mix[e.kind] = (mix[e.kind] ?? 0) + 1;
  const chunks: Buffer[] = [];
  for (let start = 0; start < events.length; start += recordsPerChunk) {
    const slice = events.slice(start, start + recordsPerChunk);
    const buf = Buffer.alloc(slice.length * RECORD_SIZE);
    slice.forEach((e, k) => encodeRecord(e, buf, k * RECORD_SIZE));
    chunks.push(buf);
  }
  return { chunks, records: events.length, mix, tuples: pop.length };
}
