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
 * Indices (into `keys`, the examples' content hashes) of the validation split: the `size` examples with the
 * smallest hash of (seed, key), ties (duplicates) broken by position.
 */
export function chooseValidation(keys: readonly string[], split: SplitSetting, seed: number): Set<number> {
  const size = validationSize(keys.length, split);
  if (size === 0) return new Set();
  const scored = keys.map((key, i) => ({
    i,
    score: createHash('sha256').update(`${seed}:${key}`).digest('hex').slice(0, 12),
  }));
  scored.sort((a, b) => (a.score < b.score ? -1 : a.score > b.score ? 1 : a.i - b.i));
  return new Set(scored.slice(0, size).map((s) => s.i));
}
