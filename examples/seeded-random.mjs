// mulberry32: a small seeded generator, so the example datasets do not depend on Math.random and the same seed
// rewrites the committed files byte for byte. Shared by examples/sentiment/generate.mjs and
// scripts/make-example-datasets.mjs.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
