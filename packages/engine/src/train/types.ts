// What the training loop takes and what it reports. `TrainMethod` is the part of peft's AppliedMethod the loop
// uses, written structurally so the loop runs the same whether the method comes from peft/ or from a bare
// loraExtension (tests): any AppliedMethod satisfies it.

import type { ModelConfig } from '../io/config.js';
import type { CausalLMMode } from '../models/causal-lm.js';
import type { ModelExtensions } from '../models/extensions.js';
import type { Graph, TensorData } from '../onnx/ir.js';
import type { Device } from '../onnx/runtime.js';
import type { QuantizedWeight } from '../quant/types.js';
import type { SchedulerName } from './schedule.js';

export interface TrainMethod {
  readonly method: string;
  /** The method's settings; part of the checkpoint fingerprint (JSON with sorted keys). */
  readonly config: unknown;
  readonly extensions: ModelExtensions | undefined;
  /** Hooks for the validation graph (no dropout); default `extensions`. */
  readonly evalExtensions?: ModelExtensions | undefined;
  /** Trainable float32 tensors by graph initialiser name; updated in place. */
  readonly params: Map<string, TensorData>;
  /** Checkpoint tensors trained under their own names (buildCausalLM's `trainable`); default: params ∩ weights. */
  readonly trainable?: readonly string[];
  /** Params without weight decay. */
  readonly noDecay: ReadonlySet<string>;
  /** When present, the loop builds its graphs with this instead of buildCausalLM(model, …). */
  buildGraph?(
    mode: CausalLMMode,
    opts?: { training?: boolean; quantized?: ReadonlyMap<string, QuantizedWeight> },
  ): Graph;
  /** Extra feeds per micro-batch (LoRA's fed dropout masks), drawn from the global micro-step alone. */
  stepFeeds?(microStep: number, rows: number): Record<string, TensorData>;
  /** Writes the trained state in the method's own format (a PEFT adapter directory for LoRA). */
  save(dir: string, params: ReadonlyMap<string, TensorData>): Promise<void>;
}

export interface TrainModel {
  readonly config: ModelConfig;
  /** Base weights (not updated; a method that trains checkpoint tensors holds its own copies in params). */
  readonly weights: ReadonlyMap<string, TensorData>;
  /** Linear weights held quantized (a QLoRA base, quant/quantizeModel); absent from `weights`. */
  readonly quantized?: ReadonlyMap<string, QuantizedWeight>;
}

/** One tokenised example. Labels -100 carry no loss; absent labels mean every token is scored. */
export interface TrainRow {
  readonly input_ids: readonly number[];
  readonly labels?: readonly number[];
}

export type OptimizerName = 'adamw' | 'sgd';

export interface Hyperparameters {
  /** Passes over the data; fractional allowed (0.5 = half an epoch). Ignored when maxSteps is set. Default 1. */
  readonly epochs?: number;
  /** Optimiser steps to take; overrides epochs. */
  readonly maxSteps?: number;
  readonly lr: number;
  /** Rows per micro-batch. Default 1. */
  readonly batchSize?: number;
  /** Micro-batches per optimiser step. Default 1. */
  readonly gradAccum?: number;
  /** Default 'adamw'. */
  readonly optimizer?: OptimizerName;
  /** AdamW betas (default [0.9, 0.999]) and eps (default 1e-8). */
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /** SGD momentum (default 0) and Nesterov (default false). */
  readonly momentum?: number;
  readonly nesterov?: boolean;
  /** Default 'linear' (transformers' default). */
  readonly scheduler?: SchedulerName;
  readonly warmupSteps?: number;
  readonly warmupRatio?: number;
  /** Default 0. */
  readonly weightDecay?: number;
  /** Global-norm clipping threshold; 0 or absent: no clipping. */
  readonly maxGradNorm?: number;
  /** Shuffle seed (data order per epoch). Default 42. */
  readonly seed?: number;
  /** Default true. */
  readonly shuffle?: boolean;
  /** Batch rows of similar length together (transformers' group_by_length). Default false. */
  readonly groupByLength?: boolean;
  /** Evaluate every N optimiser steps, or at the end of every epoch. */
  readonly evalEvery?: number | 'epoch';
  /** Stop after this many evaluations without a lower validation loss. */
  readonly earlyStoppingPatience?: number;
  /** Minimum decrease of the validation loss that counts as an improvement. Default 0. */
  readonly earlyStoppingThreshold?: number;
  /** Rows per validation batch. Default batchSize. */
  readonly evalBatchSize?: number;
  /** Call onLog every N optimiser steps (and after the last). Default 1. */
  readonly logEvery?: number;
  /** Write a checkpoint every N optimiser steps. */
  readonly saveEvery?: number;
  /** Also write a checkpoint at the end of every epoch. */
  readonly saveEachEpoch?: boolean;
  /** Keep only the newest K checkpoints. Default: keep all. */
  readonly keepLast?: number;
  /** Fail after this many consecutive steps with a non-finite loss or gradient. Default 5. */
  readonly maxNonFiniteInARow?: number;
}

export interface LogEvent {
  /** Optimiser steps taken (1-based: the step just finished). */
  readonly step: number;
  readonly totalSteps: number;
  /** Fractional epochs done. */
  readonly epoch: number;
  /** Mean training loss over the steps since the last log (each step: its window's token mean). */
  readonly loss: number;
  /** Learning rate the last step used. */
  readonly lr: number;
  /** Global L2 norm of the last step's gradient, before clipping. */
  readonly gradNorm: number;
  /** Non-padding tokens processed per second since the last log. */
  readonly tokensPerSecond: number;
  readonly elapsedS: number;
  readonly remainingS: number;
  /** Present when this step ran an evaluation. */
  readonly valLoss?: number;
  /** Peak resident set size of the process so far, MB. */
  readonly peakRssMb: number;
}

export interface EvalEvent {
  readonly step: number;
  readonly epoch: number;
  readonly valLoss: number;
  readonly valTokens: number;
  readonly best: number;
  /** Evaluations in a row without improvement. */
  readonly badEvals: number;
}

export interface CheckpointEvent {
  readonly step: number;
  readonly dir: string;
}

export interface NonFiniteEvent {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly inARow: number;
  readonly total: number;
}

export interface TrainCallbacks {
  onLog?(e: LogEvent): void;
  onEval?(e: EvalEvent): void;
  onCheckpoint?(e: CheckpointEvent): void;
  onNonFinite?(e: NonFiniteEvent): void;
}

export interface TrainOptions {
  readonly model: TrainModel;
  readonly method: TrainMethod;
  readonly train: readonly TrainRow[];
  readonly validation?: readonly TrainRow[];
  readonly hyperparameters: Hyperparameters;
  /** Checkpoints go to <outputDir>/checkpoint-<step>; needed when saveEvery/saveEachEpoch is set. */
  readonly outputDir?: string;
  /** A checkpoint directory to continue from (params, optimiser, schedule, data position). */
  readonly resumeFrom?: string;
  /** Pad id for batching (its positions are masked, so the value never matters). Default 0. */
  readonly padId?: number;
  readonly device?: Device;
  readonly threads?: number;
  /** Recompute each block's activations in the backward (less memory, about one more forward per step). */
  readonly gradientCheckpointing?: boolean;
  /** Recompute the attention probabilities in the backward (default true: less memory, ≈ 3% more time). */
  readonly recomputeAttention?: boolean;
  /** Compute precision (default float32). Half: mixed precision with loss scaling, meant for device 'cuda'. */
  readonly precision?: 'float32' | 'float16' | 'bfloat16';
  readonly callbacks?: TrainCallbacks;
  /** Aborts at once (mid-step, throwing TrainError 'aborted'); nothing is saved. */
  readonly signal?: AbortSignal;
  /**
   * Save then stop: once aborted, the loop finishes the step in progress, writes a checkpoint of it (when an
   * outputDir is set and that step has none yet) and returns with stopReason 'stopped'. A node that is cancelled
   * or drained uses it so the next run resumes from exactly where this one left off.
   */
  readonly stopRequest?: AbortSignal;
  /**
   * Keep params, gradients and the optimiser in the onnxruntime worker (default true): no per-step copy of
   * the weights across threads. false runs the update on the main thread; both give the same numbers.
   */
  readonly residentOptimizer?: boolean;
  /**
   * Free the main thread's copy of the frozen base weights once onnxruntime's sessions hold theirs (the
   * validation session is then created up front): their ArrayBuffers are detached, so every view of them (the
   * caller's model.weights, the method's) is left empty, and a later train() on them throws TrainError
   * 'weights_released'. Trainable params are kept. For methods whose save writes only params (the adapters);
   * not when the caller still needs the base (a merge, saving a full model). Default false.
   */
  readonly releaseFrozenWeights?: boolean;
}

/** 'stopped': the run honoured `stopRequest` before its last step. */
export type StopReason = 'completed' | 'early_stopping' | 'stopped';

export interface TrainResult {
  readonly steps: number;
  readonly totalSteps: number;
  readonly epoch: number;
  readonly stopReason: StopReason;
  /** Every optimiser step's training loss (from step 1, or from the resumed step on). */
  readonly losses: readonly { step: number; loss: number }[];
  readonly valLosses: readonly { step: number; loss: number }[];
  readonly bestValLoss?: number;
  readonly nonFiniteSteps: number;
  readonly lastCheckpoint?: string;
  /** Mean seconds per optimiser step over this run. */
  readonly stepSeconds: number;
  readonly tokensPerSecond: number;
  readonly peakRssMb: number;
}
