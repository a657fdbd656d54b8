// Learning-rate schedules with transformers' formulas (optimization.py). A schedule maps the number of
// optimiser steps already taken (0 for the first step) to a multiplier of the base learning rate, exactly as
// LambdaLR does with get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
// get_cosine_schedule_with_warmup (num_cycles 0.5). As in transformers, the first step of a warmup runs at
// lr 0, and warmup given as a ratio is ceil(totalSteps · ratio) steps.

import { TrainError } from './errors.js';

export type SchedulerName = 'constant' | 'linear' | 'cosine';
export const SCHEDULERS: readonly SchedulerName[] = ['constant', 'linear', 'cosine'];

export interface ScheduleOptions {
  readonly name: SchedulerName;
  readonly totalSteps: number;
  /** Warmup in optimiser steps; takes precedence over warmupRatio when > 0 (transformers' rule). */
  readonly warmupSteps?: number;
  /** Warmup as a fraction of totalSteps, in [0, 1]. */
  readonly warmupRatio?: number;
}

export interface Schedule {
  readonly name: SchedulerName;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  /** Multiplier of the base learning rate for the step after `stepsTaken` steps. */
  factor(stepsTaken: number): number;
}

/** transformers' TrainingArguments.get_warmup_steps. */
export function warmupStepsOf(totalSteps: number, warmupSteps = 0, warmupRatio = 0): number {
  if (!Number.isSafeInteger(warmupSteps) || warmupSteps < 0) {
    throw new TrainError('bad_hyperparameter', `warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  }
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) {
    throw new TrainError('bad_hyperparameter', `warmupRatio must be in [0, 1], got ${warmupRatio}`);
  }
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

export function createSchedule(opts: ScheduleOptions): Schedule {
  const { name, totalSteps } = opts;
  if (!SCHEDULERS.includes(name)) {
    throw new TrainError(
      'bad_hyperparameter',
      `unknown scheduler '${String(name)}' (expected ${SCHEDULERS.join(', ')})`,
    );
  }
  if (!Number.isSafeInteger(totalSteps) || totalSteps < 1) {
    throw new TrainError('bad_hyperparameter', `totalSteps must be a positive integer, got ${totalSteps}`);
  }
  const warmup = warmupStepsOf(totalSteps, opts.warmupSteps, opts.warmupRatio);
  const warm = (s: number) => s / Math.max(1, warmup);
  const progress = (s: number) => (s - warmup) / Math.max(1, totalSteps - warmup);
  const factor = (s: number): number => {
    if (s < warmup) return warm(s);
    switch (name) {
      case 'constant':
        return 1;
      case 'linear':
        return Math.max(0, (totalSteps - s) / Math.max(1, totalSteps - warmup));
      case 'cosine':
        // num_cycles = 0.5: half a cosine period from 1 down to 0 over the steps after warmup.
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress(s))));
    }
  };
  return { name, totalSteps, warmupSteps: warmup, factor };
}
