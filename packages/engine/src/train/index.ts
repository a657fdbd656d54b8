// Public API of the train folder: optimisers (AdamW, SGD as PyTorch computes them), learning-rate schedules
// (transformers' formulas), the training loop with evaluation, clipping, accumulation and non-finite handling,
// and checkpoints with exact resume.

export {
  type Checkpoint,
  checkFingerprint,
  checkpointDirName,
  latestCheckpoint,
  listCheckpoints,
  OPTIMIZER_FILE,
  PARAMS_FILE,
  readCheckpoint,
  type SaveCheckpointInput,
  saveCheckpoint,
  TRAINER_STATE_FILE,
  type TrainerState,
} from './checkpoint.js';
export { clipByGlobalNorm, globalNorm } from './clip.js';
export { CheckpointMismatchError, TrainError, type TrainErrorCode } from './errors.js';
export { computeFingerprint, type Fingerprint } from './fingerprint.js';
export { blockSegment, buildTrainGraphs, paramsAsInputs, type TrainGraphOptions, type TrainGraphs } from './graphs.js';
export { type ResolvedHyperparameters, resolveHyperparameters } from './hyperparameters.js';
export { countSteps, train, validationLoss } from './loop.js';
export {
  LOSS_HISTORY_FILE,
  type LossHistory,
  readLossHistory,
  writeLossChartFile,
  writeLossHistorySync,
} from './loss-history.js';
export { type HalfDType, LOSS_SCALE, LossScaler, toMixedPrecision } from './mixed-precision.js';
export { type AdamWOptions, createAdamW, createSgd, type Optimizer, type SgdOptions } from './optim/index.js';
export {
  createSchedule,
  SCHEDULERS,
  type Schedule,
  type ScheduleOptions,
  type SchedulerName,
  warmupStepsOf,
} from './schedule.js';
export { batchFeeds, type WindowGradient, windowGradient } from './step.js';
export type {
  CheckpointEvent,
  EvalEvent,
  Hyperparameters,
  LogEvent,
  NonFiniteEvent,
  OptimizerName,
  StopReason,
  TrainCallbacks,
  TrainMethod,
  TrainModel,
  TrainOptions,
  TrainResult,
  TrainRow,
} from './types.js';
