// Hyperparameters (proto) checked at create time with the field named, their defaults written in, and their
// translation to the engine's Hyperparameters for the trainer node.

import { type Hyperparameters as EngineHyperparameters, INT4_BLOCK_SIZES } from '@tunemesh/engine';
import { InvalidArgumentError } from '@tunemesh/kit';
import { type Hyperparameters, LrScheduler, MethodKind, OptimizerType, Precision, Quantization } from '@tunemesh/proto';

/** Checkpoint cadence when a job leaves save_every_steps at 0: often enough that a lost node costs little. */
export const DEFAULT_SAVE_EVERY_STEPS = 10;

const bad = (name: string, message: string) => {
  const field = `hyperparameters.${name}`;
  return new InvalidArgumentError(`${field}: ${message}`, { field });
};

function defaultLearningRate(kind: MethodKind): number {
  if (kind === MethodKind.FULL) return 2e-5;
  if (kind === MethodKind.PROMPT_TUNING || kind === MethodKind.P_TUNING || kind === MethodKind.PREFIX_TUNING)
    return 3e-2;
  return 2e-4;
}

/** Fills defaults and checks every range; `hasValidation`: the dataset has a validation split. */
export function resolveJobHyperparameters(
  h: Hyperparameters | undefined,
  kind: MethodKind,
  opts: { hasValidation: boolean },
): Hyperparameters {
  const src: Hyperparameters = h ?? {
    batchSize: 0,
    gradientAccumulationSteps: 0,
    lrScheduler: 0,
    weightDecay: 0,
    maxSeqLength: 0,
    evalEverySteps: 0n,
    evalEveryEpoch: false,
    saveEverySteps: 0n,
    saveTotalLimit: 0,
    earlyStoppingPatience: 0,
    earlyStoppingThreshold: 0,
    precision: 0,
    quantization: 0,
    gradientCheckpointing: false,
    device: 0,
    loggingSteps: 0,
  };
  const d = src.duration;
  if (d?.$case === 'epochs' && !(Number.isFinite(d.value) && d.value > 0 && d.value <= 1000))
    throw bad('epochs', `must be in (0, 1000], got ${d.value}`);
  if (d?.$case === 'maxSteps' && !(d.value >= 1n && d.value <= 10_000_000n))
    throw bad('max_steps', `must be in [1, 10000000], got ${d.value}`);
  const lr = src.learningRate ?? defaultLearningRate(kind);
  if (!(Number.isFinite(lr) && lr > 0 && lr <= 1)) throw bad('learning_rate', `must be in (0, 1], got ${lr}`);
  const batchSize = src.batchSize === 0 ? 8 : src.batchSize;
  if (batchSize > 4096) throw bad('batch_size', `must be at most 4096, got ${batchSize}`);
  const accum = src.gradientAccumulationSteps === 0 ? 1 : src.gradientAccumulationSteps;
  if (accum > 4096) throw bad('gradient_accumulation_steps', `must be at most 4096, got ${accum}`);
  const o = src.optimizer;
  if (o !== undefined) {
    if (o.beta1 !== undefined && !(o.beta1 >= 0 && o.beta1 < 1))
      throw bad('optimizer.beta1', `must be in [0, 1), got ${o.beta1}`);
    if (o.beta2 !== undefined && !(o.beta2 >= 0 && o.beta2 < 1))
      throw bad('optimizer.beta2', `must be in [0, 1), got ${o.beta2}`);
    if (o.epsilon !== undefined && !(o.epsilon > 0 && o.epsilon < 1))
      throw bad('optimizer.epsilon', `must be in (0, 1), got ${o.epsilon}`);
    if (!(o.momentum >= 0 && o.momentum < 1)) throw bad('optimizer.momentum', `must be in [0, 1), got ${o.momentum}`);
  }
  const w = src.warmup;
  if (w?.$case === 'warmupSteps' && w.value < 0n) throw bad('warmup_steps', `must be >= 0, got ${w.value}`);
  if (w?.$case === 'warmupRatio' && !(w.value >= 0 && w.value < 1))
    throw bad('warmup_ratio', `must be in [0, 1), got ${w.value}`);
  if (!(src.weightDecay >= 0 && src.weightDecay <= 10))
    throw bad('weight_decay', `must be in [0, 10], got ${src.weightDecay}`);
  const clip = src.maxGradNorm ?? 1;
  if (!(clip >= 0 && Number.isFinite(clip))) throw bad('max_grad_norm', `must be a finite number >= 0, got ${clip}`);
  if (src.maxSeqLength > 1_000_000) throw bad('max_seq_length', `must be at most 1000000, got ${src.maxSeqLength}`);
  if (src.evalEverySteps < 0n) throw bad('eval_every_steps', `must be >= 0, got ${src.evalEverySteps}`);
  if (src.saveEverySteps < 0n) throw bad('save_every_steps', `must be >= 0, got ${src.saveEverySteps}`);
  const evaluates = src.evalEverySteps > 0n || src.evalEveryEpoch;
  if (evaluates && !opts.hasValidation)
    throw bad(src.evalEveryEpoch ? 'eval_every_epoch' : 'eval_every_steps', 'the dataset has no validation split');
  if (src.earlyStoppingPatience > 0 && !evaluates)
    throw bad('early_stopping_patience', 'needs evaluations (eval_every_steps or eval_every_epoch)');
  if (!(src.earlyStoppingThreshold >= 0)) throw bad('early_stopping_threshold', 'must be >= 0');
  if (src.precision === Precision.FP16 || src.precision === Precision.BF16)
    throw bad('precision', "trainer nodes run onnxruntime's CPU provider, which trains in FP32: use PRECISION_FP32");
  if (src.quantBlockSize !== undefined && src.quantization !== Quantization.INT4)
    throw bad('quant_block_size', 'applies to QUANTIZATION_INT4 only (INT8 has one scale per output channel)');
  if (src.quantBlockSize !== undefined && !INT4_BLOCK_SIZES.includes(src.quantBlockSize))
    throw bad('quant_block_size', `must be one of ${INT4_BLOCK_SIZES.join(', ')}, got ${src.quantBlockSize}`);
  return {
    ...src,
    duration: d ?? { $case: 'epochs', value: 3 },
    learningRate: lr,
    batchSize,
    gradientAccumulationSteps: accum,
    optimizer: {
      type: o?.type === OptimizerType.SGD ? OptimizerType.SGD : OptimizerType.ADAMW,
      beta1: o?.beta1 ?? 0.9,
      beta2: o?.beta2 ?? 0.999,
      epsilon: o?.epsilon ?? 1e-8,
      momentum: o?.momentum ?? 0,
      nesterov: o?.nesterov ?? false,
    },
    lrScheduler: src.lrScheduler === LrScheduler.UNSPECIFIED ? LrScheduler.LINEAR : src.lrScheduler,
    maxGradNorm: clip,
    seed: src.seed ?? 42,
    precision: src.precision === Precision.UNSPECIFIED ? Precision.FP32 : src.precision,
    quantization: src.quantization === Quantization.UNSPECIFIED ? Quantization.NONE : src.quantization,
  };
}

const SCHEDULER_NAMES = { [LrScheduler.CONSTANT]: 'constant', [LrScheduler.COSINE]: 'cosine' } as const;

/** The engine's hyperparameters for a resolved job (resolveJobHyperparameters' output). */
export function engineHyperparameters(h: Hyperparameters): EngineHyperparameters {
  const o = h.optimizer;
  const d = h.duration;
  const w = h.warmup;
  const evalEvery = h.evalEveryEpoch
    ? ('epoch' as const)
    : h.evalEverySteps > 0n
      ? Number(h.evalEverySteps)
      : undefined;
  return {
    ...(d?.$case === 'maxSteps' ? { maxSteps: Number(d.value) } : { epochs: d?.value ?? 3 }),
    lr: h.learningRate ?? 2e-4,
    batchSize: h.batchSize,
    gradAccum: h.gradientAccumulationSteps,
    optimizer: o?.type === OptimizerType.SGD ? 'sgd' : 'adamw',
    betas: [o?.beta1 ?? 0.9, o?.beta2 ?? 0.999],
    eps: o?.epsilon ?? 1e-8,
    momentum: o?.momentum ?? 0,
    nesterov: o?.nesterov ?? false,
    scheduler: SCHEDULER_NAMES[h.lrScheduler as keyof typeof SCHEDULER_NAMES] ?? 'linear',
    ...(w?.$case === 'warmupSteps' && { warmupSteps: Number(w.value) }),
    ...(w?.$case === 'warmupRatio' && { warmupRatio: w.value }),
    weightDecay: h.weightDecay,
    maxGradNorm: h.maxGradNorm ?? 1,
    seed: h.seed ?? 42,
    ...(evalEvery !== undefined && { evalEvery }),
    ...(h.earlyStoppingPatience > 0 && { earlyStoppingPatience: h.earlyStoppingPatience }),
    earlyStoppingThreshold: h.earlyStoppingThreshold,
    logEvery: h.loggingSteps === 0 ? 1 : h.loggingSteps,
    saveEvery: h.saveEverySteps > 0n ? Number(h.saveEverySteps) : DEFAULT_SAVE_EVERY_STEPS,
    // save_total_limit is applied by the node (jobs/retention.ts), which also keeps the best checkpoint.
  };
}
