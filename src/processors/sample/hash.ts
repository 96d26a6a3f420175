/** Fast non-cryptographic hashing of connections (FNV-1a over the endpoints, murmur3's finaliser). */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * One endpoint (address text and port). An IPv4-mapped IPv6 address hashes as its IPv4
 * form, so that both ends agree when only one of them is a dual-stack socket.
 */
export function endpointHash(address: string, port: number, seed: number): number {
  let start = 0;
  if (address.length > 7 && address.charCodeAt(0) === 58 && address.startsWith('::ffff:') && address.indexOf('.', 7) > 0) start = 7;
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = start; i < address.length; i++) {
    h ^= address.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  h ^= port & 0xff;
  h = Math.imul(h, FNV_PRIME);
  h ^= port >>> 8;
  h = Math.imul(h, FNV_PRIME);
  return fmix32(h);
}

/**
 * The connection's hash, symmetric in its two endpoints: both ends of a loopback
 * connection (whose local and remote are swapped) get the same value.
 */
export function connectionHash(localAddress: string, localPort: number, remoteAddress: string, remotePort: number, seed: number): number {
  const a = endpointHash(localAddress, localPort, seed);
  const b = endpointHash(remoteAddress, remotePort, seed);
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  return fmix32((Math.imul(lo, 0x9e3779b1) ^ hi) >>> 0);
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
