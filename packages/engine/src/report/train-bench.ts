// Training throughput as `tunemesh bench` and bench/train.ts measure it: real optimiser steps of the engine's
// trainer on random tokens, timed after a warm-up, with peak RSS and model FLOP utilisation against a MatMul
// peak measured in the same process.

import { seededRandom } from '../data/batches.js';
import type { ModelConfig } from '../io/config.js';
import type { TensorData } from '../onnx/ir.js';
import type { AppliedMethod } from '../peft/types.js';
import { train } from '../train/index.js';
import type { OptimizerName } from '../train/types.js';
import {
  type MatMulPeak,
  matmulParamCount,
  measureMatMulPeak,
  peakRssMiB,
  trainingFlopsPerToken,
} from './throughput.js';

export interface TrainBenchOptions {
  model: { config: ModelConfig; weights: ReadonlyMap<string, TensorData> };
  /** The method applied to the model (peft's getMethod(name).apply). */
  method: AppliedMethod;
  batchSize: number;
  seqLen: number;
  /** Timed optimiser steps. */
  steps: number;
  /** Untimed steps first (session creation, first-run allocations). Default 2. */
  warmup?: number;
  optimizer?: OptimizerName;
  threads?: number;
  seed?: number;
  /** Skip the MatMul peak (mfu is then null). */
  skipPeak?: boolean;
  /** Measured earlier in the same process, to reuse. */
  peak?: MatMulPeak;
  /** train()'s releaseFrozenWeights: free the main thread's base weights once the session holds them. */
  releaseFrozenWeights?: boolean;
  /** train()'s recomputeAttention (default true); false keeps the attention probabilities for the backward. */
  recomputeAttention?: boolean;
}

export interface TrainBenchResult {
  tokens_per_s: number;
  step_s: number;
  peak_rss_mb: number;
  /** Model FLOPs per second / MatMul peak; null when the peak was not measured. */
  mfu: number | null;
  /** Every timed step's seconds, in order. */
  steps_s: number[];
  matmul_peak_gflops: number | null;
  model_flops_per_token: number;
  trainable_params: number;
  warmup_s: number;
}

/** Random token rows of exactly seqLen, every position scored, below the special tokens at the top of the vocabulary. */
function randomRows(n: number, seqLen: number, vocab: number, seed: number): { input_ids: number[] }[] {
  const next = seededRandom(seed);
  const top = Math.max(1, vocab - 3);
  return Array.from({ length: n }, () => ({
    input_ids: Array.from({ length: seqLen }, () => Math.floor(next() * top)),
  }));
}

export async function benchTraining(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const warmup = opts.warmup ?? 2;
  const total = warmup + opts.steps;
  const probe = () => measureMatMulPeak(opts.threads === undefined ? {} : { threads: opts.threads });
  // The peak is measured before and after the run and the higher kept: on a shared machine a single probe
  // can land in a busy moment, and an underestimated peak overstates MFU.
  const before = opts.peak ?? (opts.skipPeak === true ? undefined : await probe());
  const rows = randomRows(total * opts.batchSize, opts.seqLen, opts.model.config.vocabSize, opts.seed ?? 1);
  const stamps: number[] = [];
  const start = performance.now();
  await train({
    model: opts.model,
    method: opts.method,
    train: rows,
    hyperparameters: {
      maxSteps: total,
      lr: 1e-5,
      batchSize: opts.batchSize,
      gradAccum: 1,
      optimizer: opts.optimizer ?? 'adamw',
      scheduler: 'constant',
      shuffle: false,
      logEvery: 1,
    },
    ...(opts.threads !== undefined && { threads: opts.threads }),
    ...(opts.releaseFrozenWeights === true && { releaseFrozenWeights: true }),
    ...(opts.recomputeAttention === false && { recomputeAttention: false }),
    callbacks: {
      onLog: () => {
        stamps.push(performance.now());
      },
    },
  });
  // stamps[k] is the end of step k+1: the timed steps run from the end of the warm-up to the end of the last.
  const stepsS: number[] = [];
  for (let k = warmup; k < stamps.length; k++) stepsS.push(((stamps[k] as number) - (stamps[k - 1] ?? start)) / 1000);
  const stepS = stepsS.reduce((a, b) => a + b, 0) / Math.max(1, stepsS.length);
  const tokensPerS = (opts.batchSize * opts.seqLen) / stepS;
  const counts = opts.method.countParams();
  const full = opts.method.method === 'full';
  const flopsPerToken = trainingFlopsPerToken(
    matmulParamCount(opts.model.config, opts.model.weights),
    counts.trainable,
    full,
  );
  const after = opts.peak !== undefined || opts.skipPeak === true ? undefined : await probe();
  const peak =
    before !== undefined && after !== undefined && after.flopsPerSecond > before.flopsPerSecond ? after : before;
  return {
    tokens_per_s: tokensPerS,
    step_s: stepS,
    peak_rss_mb: peakRssMiB(),
    mfu: peak === undefined ? null : (flopsPerToken * tokensPerS) / peak.flopsPerSecond,
    steps_s: stepsS,
    matmul_peak_gflops: peak === undefined ? null : peak.flopsPerSecond / 1e9,
    model_flops_per_token: flopsPerToken,
    trainable_params: counts.trainable,
    warmup_s: ((stamps[warmup - 1] ?? start) - start) / 1000,
  };
}
