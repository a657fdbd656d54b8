// Which checkpoints a job keeps under save_total_limit: the newest `limit`, plus the one with the best (lowest)
// validation loss when that is older — transformers' rule with load_best_model_at_end, so the best model is
// never pruned. Node (files) and service (records) apply this one function, so ListCheckpoints shows what is on
// disk. A tie keeps the earlier checkpoint: only a strictly lower loss replaces the best.

export interface RetainedCheckpoint {
  readonly step: number;
  readonly validationLoss?: number | undefined;
}

/** The step of the best checkpoint by validation loss, or undefined when none was evaluated. */
export function bestStep(checkpoints: readonly RetainedCheckpoint[]): number | undefined {
  let best: RetainedCheckpoint | undefined;
  for (const c of [...checkpoints].sort((a, b) => a.step - b.step)) {
    const v = c.validationLoss;
    if (v === undefined || !Number.isFinite(v)) continue;
    if (best === undefined || v < (best.validationLoss as number)) best = c;
  }
  return best?.step;
}

/** Steps to keep; `limit` 0 keeps all. */
export function retainedSteps(checkpoints: readonly RetainedCheckpoint[], limit: number): Set<number> {
  const steps = checkpoints.map((c) => c.step).sort((a, b) => b - a);
  if (limit <= 0) return new Set(steps);
  const keep = new Set(steps.slice(0, limit));
  const best = bestStep(checkpoints);
  if (best !== undefined) keep.add(best);
  return keep;
}
