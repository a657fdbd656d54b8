// Hyperparameters with their defaults filled in and every value checked, so a bad one fails before any graph is
// built, with the field name and the value given.

import { TrainError } from './errors.js';
import { SCHEDULERS, type SchedulerName } from './schedule.js';
import type { Hyperparameters, OptimizerName } from './types.js';

export interface ResolvedHyperparameters {
  readonly epochs: number;
  readonly maxSteps: number | undefined;
  readonly lr: number;
  readonly batchSize: number;
  readonly gradAccum: number;
  readonly optimizer: OptimizerName;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly scheduler: SchedulerName;
  readonly warmupSteps: number;
  readonly warmupRatio: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly groupByLength: boolean;
  readonly evalEvery: number | 'epoch' | undefined;
  readonly earlyStoppingPatience: number | undefined;
  readonly earlyStoppingThreshold: number;
  readonly evalBatchSize: number;
  readonly logEvery: number;
  readonly saveEvery: number | undefined;
  readonly saveEachEpoch: boolean;
  readonly keepLast: number | undefined;
  readonly maxNonFiniteInARow: number;
}

const bad = (msg: string) => new TrainError('bad_hyperparameter', msg);

function positiveInt(name: string, v: number | undefined, dflt: number): number;
function positiveInt(name: string, v: number | undefined, dflt: undefined): number | undefined;
function positiveInt(name: string, v: number | undefined, dflt: number | undefined): number | undefined {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw bad(`${name} must be a positive integer, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!(Number.isFinite(v) && v >= 0)) throw bad(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}

export function resolveHyperparameters(h: Hyperparameters): ResolvedHyperparameters {
  if (!(typeof h.lr === 'number' && Number.isFinite(h.lr) && h.lr > 0)) {
    throw bad(`lr (learning rate) must be a finite number > 0, got ${h.lr}`);
  }
  const epochs = h.epochs ?? 1;
  if (!(Number.isFinite(epochs) && epochs > 0)) throw bad(`epochs must be a finite number > 0, got ${epochs}`);
  const optimizer = h.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd')
    throw bad(`optimizer must be 'adamw' or 'sgd', got '${String(optimizer)}'`);
  const scheduler = h.scheduler ?? 'linear';
  if (!SCHEDULERS.includes(scheduler))
    throw bad(`scheduler must be one of ${SCHEDULERS.join(', ')}, got '${String(scheduler)}'`);
  const betas = h.betas ?? [0.9, 0.999];
  for (const [i, b] of betas.entries()) if (!(b >= 0 && b < 1)) throw bad(`betas[${i}] must be in [0, 1), got ${b}`);
  const evalEvery = h.evalEvery === 'epoch' ? 'epoch' : positiveInt('evalEvery', h.evalEvery, undefined);
  const seed = h.seed ?? 42;
  if (!Number.isSafeInteger(seed)) throw bad(`seed must be an integer, got ${seed}`);
  const batchSize = positiveInt('batchSize', h.batchSize, 1);
  const warmupRatio = h.warmupRatio ?? 0;
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw bad(`warmupRatio must be in [0, 1], got ${warmupRatio}`);
  const warmupSteps = h.warmupSteps ?? 0;
  if (!Number.isSafeInteger(warmupSteps) || warmupSteps < 0)
    throw bad(`warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  return {
    epochs,
    maxSteps: positiveInt('maxSteps', h.maxSteps, undefined),
    lr: h.lr,
    batchSize,
    gradAccum: positiveInt('gradAccum', h.gradAccum, 1),
    optimizer,
    betas: [betas[0], betas[1]],
    eps: nonNegative('eps', h.eps, 1e-8),
    momentum: nonNegative('momentum', h.momentum, 0),
    nesterov: h.nesterov ?? false,
    scheduler,
    warmupSteps,
    warmupRatio,
    weightDecay: nonNegative('weightDecay', h.weightDecay, 0),
    maxGradNorm: nonNegative('maxGradNorm', h.maxGradNorm, 0),
    seed,
    shuffle: h.shuffle ?? true,
    groupByLength: h.groupByLength ?? false,
    evalEvery,
    earlyStoppingPatience: positiveInt('earlyStoppingPatience', h.earlyStoppingPatience, undefined),
    earlyStoppingThreshold: nonNegative('earlyStoppingThreshold', h.earlyStoppingThreshold, 0),
    evalBatchSize: positiveInt('evalBatchSize', h.evalBatchSize, batchSize),
    logEvery: positiveInt('logEvery', h.logEvery, 1),
    saveEvery: positiveInt('saveEvery', h.saveEvery, undefined),
    saveEachEpoch: h.saveEachEpoch ?? false,
    keepLast: positiveInt('keepLast', h.keepLast, undefined),
    maxNonFiniteInARow: positiveInt('maxNonFiniteInARow', h.maxNonFiniteInARow, 5),
  };
}
