// Reading a stored dataset back: the normalised examples by index (byte offsets into examples.jsonl, so any
// example is one read away and memory stays O(number of examples)), its split, and the seeded order streams use.

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { type DataRow, iterateLines, shuffleInPlace } from '@tunemesh/engine';
import { ARTEFACTS, type StoredExample } from './import/importer.js';

export type SplitName = 'train' | 'validation' | 'all';

export interface LoadedExample {
  index: number;
  line: number;
  row: DataRow;
}

export class StoredDataset {
  private constructor(
    private readonly file: string,
    private readonly offsets: Float64Array,
    private readonly lengths: Uint32Array,
    private readonly validation: ReadonlySet<number>,
  ) {}

  static async open(dir: string): Promise<StoredDataset> {
    const file = join(dir, ARTEFACTS.examples);
    const offsets: number[] = [];
    const lengths: number[] = [];
    for await (const { bytes, offset } of iterateLines(file)) {
      if (bytes.length === 0) continue;
      offsets.push(offset);
      lengths.push(bytes.length);
    }
    const { readFile } = await import('node:fs/promises');
    const split = JSON.parse(await readFile(join(dir, ARTEFACTS.split), 'utf8')) as { validation: number[] };
    return new StoredDataset(file, Float64Array.from(offsets), Uint32Array.from(lengths), new Set(split.validation));
  }

  get size(): number {
    return this.offsets.length;
  }

  /** Stored indices of a split, in stored order (ALL: training examples, then validation ones). */
  indices(split: SplitName): number[] {
    const train: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < this.size; i++) (this.validation.has(i) ? val : train).push(i);
    return split === 'train' ? train : split === 'validation' ? val : [...train, ...val];
  }

  /** A split's indices in a seeded order; each epoch has its own order. */
  order(split: SplitName, shuffle: boolean, seed: number, epoch: number): number[] {
    const ids = this.indices(split);
    return shuffle ? shuffleInPlace(ids, (seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0) : ids;
  }

  async read(indices: readonly number[]): Promise<LoadedExample[]> {
    const fh = await open(this.file, 'r');
    try {
      const out: LoadedExample[] = [];
      for (const i of indices) {
        const length = this.lengths[i];
        const offset = this.offsets[i];
        if (length === undefined || offset === undefined) throw new RangeError(`example ${i} of ${this.size}`);
        const buf = Buffer.alloc(length);
        await fh.read(buf, 0, length, offset);
        const stored = JSON.parse(buf.toString('utf8')) as StoredExample;
        out.push({
          index: stored.i,
          line: stored.line,
          row: { ...stored.row, line: stored.line } as unknown as DataRow,
        });
      }
      return out;
    } finally {
      await fh.close();
    }
  }
}
