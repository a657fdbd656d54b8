import { type Batch, type CollatableRow, type CollateOptions, collate } from './collate.js';
import { DataError } from './errors.js';

export interface BatchPlanOptions {
  batchSize: number;
  /** Shuffle the row order with this seed (same seed, same order); absent: keep file order. */
  seed?: number;
  /**
   * Group rows of similar length to cut padding, as transformers' group_by_length does: the (shuffled)
   * order is cut into megabatches of batchSize × megabatchFactor rows, each sorted longest first.
   */
  groupByLength?: boolean;
  /** Default 50, transformers' multiplier. */
  megabatchFactor?: number;
  /** Drop a last, smaller batch. Default false. */
  dropLast?: boolean;
}

/**
 * The batches of one epoch as lists of row indices. Pure and deterministic, so a resumed run recomputes the
 * same plan and skips the batches it already did.
 */
export function planBatches(lengths: readonly number[], opts: BatchPlanOptions): number[][] {
  const { batchSize } = opts;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new DataError('DATA_OPTION', undefined, `batchSize must be a positive integer, got ${batchSize}`);
  }
  const factor = opts.megabatchFactor ?? 50;
  if (!Number.isSafeInteger(factor) || factor < 1) {
    throw new DataError('DATA_OPTION', undefined, `megabatchFactor must be a positive integer, got ${factor}`);
  }
  const order = lengths.map((_, i) => i);
  if (opts.seed !== undefined) shuffleInPlace(order, opts.seed);
  if (opts.groupByLength === true) {
    const mega = batchSize * factor;
    for (let s = 0; s < order.length; s += mega) {
      // Stable sort: ties keep the shuffled order, so the plan is the same on every engine.
      const sorted = order.slice(s, s + mega).sort((a, b) => (lengths[b] as number) - (lengths[a] as number));
      order.splice(s, sorted.length, ...sorted);
    }
  }
  const batches: number[][] = [];
  for (let s = 0; s < order.length; s += batchSize) {
    const b = order.slice(s, s + batchSize);
    if (b.length < batchSize && opts.dropLast === true) break;
    batches.push(b);
  }
  return batches;
}

export interface BatchIteratorOptions extends BatchPlanOptions, CollateOptions {
  /** Skip this many batches of the plan (resume). */
  startBatch?: number;
}

/** Collated batches of `rows` following planBatches; each comes with the row indices it holds. */
export function* iterateBatches(
  rows: readonly CollatableRow[],
  opts: BatchIteratorOptions,
): Generator<Batch & { indices: number[] }> {
  const plan = planBatches(
    rows.map((r) => r.input_ids.length),
    opts,
  );
  for (let i = opts.startBatch ?? 0; i < plan.length; i++) {
    const indices = plan[i] as number[];
    yield {
      ...collate(
        indices.map((k) => rows[k] as CollatableRow),
        opts,
      ),
      indices,
    };
  }
}

/** Fisher–Yates with a small seeded generator (mulberry32), identical on every platform. */
export function shuffleInPlace<T>(items: T[], seed: number): T[] {
  const next = seededRandom(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  }
  return items;
}

/** Uniform floats in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
