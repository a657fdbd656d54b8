// A small seeded PRNG so that sampling is reproducible across runs, platforms and Node versions
// (Math.random cannot be seeded). xoshiro128** with its state filled by splitmix32, both in 32-bit integer
// arithmetic so no BigInt is needed on the hot path.

/** A deterministic source of uniform numbers in [0, 1). */
export interface Rng {
  /** Next uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
  /** Next unsigned 32-bit integer. */
  nextUint32(): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * xoshiro128** seeded from a safe integer: the low and high halves of the seed both enter the state, so seeds
 * that differ only above bit 32 still give different streams.
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`rng seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(Math.abs(seed) / 0x1_0000_0000) >>> 0;
  const mix = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2f) ^ (seed < 0 ? 0x5bd1e995 : 0));
  return xoshiro128ss(new Uint32Array([mix(), mix(), mix(), mix()]));
}

/** The bare generator over an explicit 128-bit state (copied). Exposed for reference-vector tests. */
export function xoshiro128ss(state: Uint32Array): Rng {
  const s = Uint32Array.from(state);
  if (s.length !== 4) throw new RangeError('xoshiro128** state is four 32-bit words');
  // An all-zero state would stay zero forever.
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  const nextUint32 = (): number => {
    const s0 = s[0]!;
    const s1 = s[1]!;
    const s2 = s[2]!;
    const s3 = s[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = (s2 ^ s0) >>> 0;
    const n3 = (s3 ^ s1) >>> 0;
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = rotl(n3, 11);
    return result;
  };
  return {
    nextUint32,
    next: () => nextUint32() / 0x1_0000_0000,
  };
}
