// Duplicate detection over millions of rows in flat memory: each row's SHA-256 is kept as its first 16 bytes
// in typed arrays (open addressing), not as a 64-character string in a Map — about 40 bytes a row instead of
// a few hundred. 128 bits make a false duplicate practically impossible (about 1e-27 for 1e6 rows).

const WORDS = 4;

/** Digest (≥ 16 bytes) → the line that first had it. */
export class DigestTable {
  private words: Int32Array;
  private lines: Float64Array;
  private used: Uint8Array;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.words = new Int32Array(cap * WORDS);
    this.lines = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The line recorded for this digest; otherwise records `line` and returns undefined. */
  firstOrAdd(digest: Uint8Array, line: number): number | undefined {
    if (digest.length < WORDS * 4) throw new RangeError(`a digest of ${digest.length} bytes is shorter than 16`);
    const view = new DataView(digest.buffer, digest.byteOffset, WORDS * 4);
    const w0 = view.getInt32(0);
    const w1 = view.getInt32(4);
    const w2 = view.getInt32(8);
    const w3 = view.getInt32(12);
    // The digest is uniformly random, so its first word is already a good slot.
    let slot = w0 & this.mask;
    while (this.used[slot] === 1) {
      const at = slot * WORDS;
      const w = this.words;
      if (w[at] === w0 && w[at + 1] === w1 && w[at + 2] === w2 && w[at + 3] === w3) return this.lines[slot];
      slot = (slot + 1) & this.mask;
    }
    this.put(slot, w0, w1, w2, w3, line);
    if (++this.count * 2 > this.mask + 1) this.grow();
    return undefined;
  }

  private put(slot: number, w0: number, w1: number, w2: number, w3: number, line: number): void {
    const at = slot * WORDS;
    this.words[at] = w0;
    this.words[at + 1] = w1;
    this.words[at + 2] = w2;
    this.words[at + 3] = w3;
    this.lines[slot] = line;
    this.used[slot] = 1;
  }

  private grow(): void {
    const { words, lines, used } = this;
    const cap = (this.mask + 1) * 2;
    this.words = new Int32Array(cap * WORDS);
    this.lines = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    for (let s = 0; s < used.length; s++) {
      if (used[s] !== 1) continue;
      const at = s * WORDS;
      const w0 = words[at] as number;
      let slot = w0 & this.mask;
      while (this.used[slot] === 1) slot = (slot + 1) & this.mask;
      this.put(slot, w0, words[at + 1] as number, words[at + 2] as number, words[at + 3] as number, lines[s] as number);
    }
  }
}
