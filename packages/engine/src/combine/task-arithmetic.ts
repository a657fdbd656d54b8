// PEFT's merge utilities (peft/utils/merge_utils.py) over flat tensors: each adapter's lora_A (and, separately,
// lora_B) is a task tensor, weighted by √(wᵢsᵢ). magnitude_prune keeps each tensor's top `density` fraction
// by |x|; ties adds a majority sign vote and averages only the agreeing values; dare drops values at random
// (seeded here; torch's generator is not reproduced) and rescales the survivors by 1/density.

export type MajoritySign = 'total' | 'frequency';

/** Keeps the int(density·n) largest |x| of a tensor (ties at the threshold broken by position). */
export function magnitudePrune(t: Float32Array, density: number): Float32Array {
  const k = Math.floor(density * t.length);
  const order = Array.from(t.keys()).sort((a, b) => Math.abs(t[b]!) - Math.abs(t[a]!) || a - b);
  const out = new Float32Array(t.length);
  for (let i = 0; i < k; i++) out[order[i]!] = t[order[i]!]!;
  return out;
}

/** DARE: keep each value with probability `density`, rescaled by 1/density. */
export function randomPrune(t: Float32Array, density: number, random: () => number): Float32Array {
  return t.map((x) => (random() < density ? x / density : 0));
}

/** Σ wᵢ·tᵢ. */
export function taskArithmetic(tensors: readonly Float32Array[], weights: readonly number[]): Float32Array {
  const out = new Float32Array(tensors[0]!.length);
  tensors.forEach((t, i) => {
    for (let j = 0; j < out.length; j++) out[j]! += weights[i]! * t[j]!;
  });
  return out;
}

/**
 * TIES after pruning: the majority sign per position from the (unweighted) pruned tensors — the sign of their
 * sum ('total') or of the count of signs ('frequency'), 0 counting as positive — then the mean of the weighted
 * values that agree with it.
 */
export function tiesMerge(
  pruned: readonly Float32Array[],
  weights: readonly number[],
  method: MajoritySign,
): Float32Array {
  const n = pruned[0]!.length;
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let vote = 0;
    for (const t of pruned) vote += method === 'total' ? t[j]! : Math.sign(t[j]!);
    const majority = vote >= 0 ? 1 : -1;
    let sum = 0;
    let count = 0;
    pruned.forEach((t, i) => {
      if (Math.sign(t[j]!) === majority) {
        sum += weights[i]! * t[j]!;
        count++;
      }
    });
    out[j] = sum / Math.max(1, count);
  }
  return out;
}
