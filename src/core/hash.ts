/**
 * Fast non-cryptographic hashing of connections (murmur3's mixing over the endpoints'
 * address words and ports), the same whether an event comes as text (a plain event) or
 * as a raw kernel record (which hashes its address words without formatting them).
 */
import { endianness } from 'node:os';
import { addressWords } from '../native/address.js';
import type { TcpEvent } from './events.js';

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** murmur3's 32-bit body step: one word into the running hash. */
function mix(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Uint32Array reads of record bytes give the words addressWords() gives (else swapped). */
const LITTLE_ENDIAN = endianness() === 'LE';
function swap(w: number): number {
  return (((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24)) >>> 0;
}

/**
 * One endpoint from the raw words of its address in a record (`v6`: four words at `at`,
 * else one): an IPv4-mapped IPv6 address hashes as its IPv4 form, so that both ends agree
 * when only one of them is a dual-stack socket.
 */
export function rawEndpointHash(w: Uint32Array, at: number, v6: boolean, port: number, seed: number): number {
  let h = seed | 0;
  if (!v6) h = mix(h, LITTLE_ENDIAN ? w[at]! : swap(w[at]!));
  else {
    const w0 = w[at]!;
    const w1 = w[at + 1]!;
    const w2 = w[at + 2]!;
    const w3 = w[at + 3]!;
    if (LITTLE_ENDIAN) {
      if (w0 === 0 && w1 === 0 && w2 === 0xffff0000) h = mix(h, w3);
      else h = mix(mix(mix(mix(h, w0), w1), w2), w3);
    } else if (w0 === 0 && w1 === 0 && w2 === 0x0000ffff) h = mix(h, swap(w3));
    else h = mix(mix(mix(mix(h, swap(w0)), swap(w1)), swap(w2)), swap(w3));
  }
  return fmix32(mix(h, port & 0xffff));
}

const parsed = new Map<string, number[]>();

/** One endpoint from its address text and port: the same value as rawEndpointHash. */
export function endpointHash(address: string, port: number, seed: number): number {
  let words = parsed.get(address);
  if (!words) {
    if (parsed.size >= 65536) parsed.clear();
    words = addressWords(address);
    parsed.set(address, words);
  }
  let h = seed | 0;
  for (const w of words) h = mix(h, w);
  return fmix32(mix(h, port & 0xffff));
}

/** Two endpoints' hashes combined, symmetric in the two. */
export function combine(a: number, b: number): number {
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  return fmix32((Math.imul(lo, 0x9e3779b1) ^ hi) >>> 0);
}

/**
 * The connection's hash, symmetric in its two endpoints: both ends of a loopback
 * connection (whose local and remote are swapped) get the same value.
 */
export function connectionHash(localAddress: string, localPort: number, remoteAddress: string, remotePort: number, seed: number): number {
  return combine(endpointHash(localAddress, localPort, seed), endpointHash(remoteAddress, remotePort, seed));
}

/** Events that can hash their endpoints from raw record words (the eBPF receiver's). */
export interface RawEndpoints {
  endpointHash(remote: boolean, seed: number): number;
}

/**
 * Events that can copy their five-tuple (copyTuple) and owner (copyOwner, from OWNER_WORD)
 * as raw words (the eBPF receiver's), TUPLE_WORDS in all: see src/native/records.ts.
 */
export interface RawTuple {
  copyTuple(out: Uint32Array, at: number): void;
  copyOwner(out: Uint32Array, at: number): void;
}

/** A hash of the first `n` tuple words at `at` (not symmetric: local and remote are told apart). */
export function tupleWordsHash(w: Uint32Array, at: number, n: number): number {
  let h = 0;
  for (let i = 0; i < n; i++) h = mix(h, w[at + i]!);
  return fmix32(h);
}

/** connectionHash of an event, from its raw record when it has one (no address text made). */
export function eventConnectionHash(ev: TcpEvent, seed: number): number {
  const raw = ev as TcpEvent & Partial<RawEndpoints>;
  if (raw.endpointHash !== undefined) return combine(raw.endpointHash(false, seed), raw.endpointHash(true, seed));
  return connectionHash(ev.localAddress, ev.localPort, ev.remoteAddress, ev.remotePort, seed);
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
