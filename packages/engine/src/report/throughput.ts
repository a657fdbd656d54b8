import { seededRandom } from '../data/batches.js';
import type { ModelConfig } from '../io/config.js';
import { embeddingName } from '../io/weights.js';
import { GraphBuilder } from '../onnx/builder.js';
import type { TensorData } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { createSession } from '../onnx/runtime.js';

export interface MatMulPeakOptions {
  /** Square matrix size; default 1024 (large enough for onnxruntime's GEMM to reach its plateau). */
  size?: number;
  /** MatMuls chained in one run, so one run is long enough to time (default 4). */
  chain?: number;
  /** Timed runs after one untimed warm-up; the best is kept (default 6). */
  runs?: number;
  threads?: number;
}

export interface MatMulPeak {
  /** Float32 FLOP/s of the best run: chain · 2·n³ / (seconds inside onnxruntime). */
  flopsPerSecond: number;
  size: number;
  chain: number;
  bestRunMs: number;
}

/**
 * The machine's float32 MatMul rate as onnxruntime achieves it: a chain of n×n MatMuls in one graph, timed
 * inside onnxruntime (no message passing), best of `runs`. Model FLOP utilisation divides a training step's
 * useful FLOPs by this, so the ratio is against what this machine and build can do, measured in the same run.
 */
export async function measureMatMulPeak(opts: MatMulPeakOptions = {}): Promise<MatMulPeak> {
  const n = opts.size ?? 1024;
  const chain = opts.chain ?? 4;
  const runs = opts.runs ?? 6;
  const rnd = seededRandom(1);
  // Entries of size ~1/√n keep the chained products near unit scale: no overflow, no denormals (slow).
  const scale = Math.sqrt(3 / n);
  const fill = () => Float32Array.from({ length: n * n }, () => (rnd() * 2 - 1) * scale);
  const b = new GraphBuilder('matmul_peak');
  const a = b.input('a', 'float32', [n, n]);
  // The weight is an initialiser, as model weights are, so onnxruntime pre-packs it the same way; the
  // activation is an input, so nothing folds.
  const w = b.initializer('w', { dtype: 'float32', dims: [n, n], data: fill() });
  let x = a;
  for (let i = 0; i < chain; i++) x = ops.matmul(b, x, w);
  // Fetch one number: copying an n×n result out of the worker would be timed by nothing but still cost.
  b.output(ops.reduceSum(b, x, [], false), 'sum');
  const session = await createSession(b.build(), opts.threads === undefined ? {} : { threads: opts.threads });
  try {
    const feeds = { a: { dtype: 'float32', dims: [n, n], data: fill() } } as const;
    await session.run(feeds);
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) {
      await session.run(feeds);
      best = Math.min(best, session.lastRunMs);
    }
    return { flopsPerSecond: (chain * 2 * n ** 3) / (best / 1000), size: n, chain, bestRunMs: best };
  } finally {
    await session.release();
  }
}

/**
 * Model FLOPs per trained token, the numerator of MFU (matrix multiplies only; attention scores and
 * elementwise work are left out, as in PaLM's MFU definition's "6N" rule):
 * - full fine-tuning: 6·N — forward 2N, backward 2N for input gradients and 2N for weight gradients;
 * - adapters (LoRA, BitFit): forward 2N, backward input gradients 2N (they must flow through every frozen
 *   layer above the first adapted one), no weight gradients for frozen weights: 4·N, plus 6·N_trainable for
 *   the adapter's own matrices.
 * N counts the weights used as matrices per token (every linear layer and the LM head, not the embedding
 * lookup); a tied LM head counts once as a matrix.
 */
export function trainingFlopsPerToken(matmulParams: number, trainableParams: number, full: boolean): number {
  return full ? 6 * matmulParams : 4 * matmulParams + 6 * trainableParams;
}

/** The process's peak resident set in MiB (onnxruntime's worker threads included: they share the process). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Weights used as matrices per token: every 2-D weight except the embedding tables (a lookup, no FLOPs) —
 * plus the LM head, which a tied model stores as the embedding.
 */
export function matmulParamCount(config: ModelConfig, weights: ReadonlyMap<string, TensorData>): number {
  const embed = embeddingName(config);
  let n = 0;
  for (const [name, t] of weights) {
    if (t.dims.length !== 2 || name === embed || name === 'transformer.wpe.weight') continue;
    n += (t.dims[0] as number) * (t.dims[1] as number);
  }
  if (config.tieWordEmbeddings) n += config.vocabSize * config.hiddenSize;
  return n;
}
