// The seeded validation split. Each example's place is decided by a hash of its content and the seed, so the
// same content with the same seed gives the same split on every import, and adding rows moves no others.

import { createHash } from 'node:crypto';
import type { SplitSetting } from './settings.js';

/** Number of validation examples for n examples: at least one each side when a split is asked for. */
export function validationSize(n: number, split: SplitSetting): number {
  if (split.kind === 'none' || n < 2) return 0;
  const want = split.kind === 'count' ? split.count : Math.round(n * split.fraction);
  return Math.min(n - 1, Math.max(1, want));
}

/**
 * An example's place in the split order: the first 48 bits of sha256(seed, key) as a number (exact in a
 * double), so the import keeps 8 bytes per example instead of its key.
 */
export function splitScore(seed: number, key: string): number {
  return Number.parseInt(createHash('sha256').update(`${seed}:${key}`).digest('hex').slice(0, 12), 16);
}

/**
 * Indices (into `keys`, the examples' content hashes) of the validation split: the `size` examples with the
 * smallest hash of (seed, key), ties (duplicates) broken by position.
 */
export function chooseValidation(keys: readonly string[], split: SplitSetting, seed: number): Set<number> {
  return chooseValidationByScore(
    keys.map((key) => splitScore(seed, key)),
    split,
  );
}

/** chooseValidation from the examples' splitScore values (in example order). */
export function chooseValidationByScore(scores: ArrayLike<number>, split: SplitSetting): Set<number> {
  const n = scores.length;
  const size = validationSize(n, split);
  if (size === 0) return new Set();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b);
  return new Set(order.subarray(0, size));
}
