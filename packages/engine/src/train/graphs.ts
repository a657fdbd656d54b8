// The two graphs a run needs: the training graph (the loss-mode forward plus its backward, differentiated with
// respect to every param) and the validation graph (the same forward without gradients). In both the params
// are graph inputs fed each run, so one session serves the whole run while the values change.

import { buildGradientGraph } from '../autodiff/sweep.js';
import { ATTENTION_SCOPE } from '../models/attention.js';
import { buildCausalLM, CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import { ACTIVATION_SCOPE } from '../models/layers.js';
import type { Graph, Node, TensorData } from '../onnx/ir.js';
import { TrainError } from './errors.js';
import { type HalfDType, toMixedPrecision } from './mixed-precision.js';
import type { TrainMethod, TrainModel } from './types.js';

export interface TrainGraphs {
  readonly train: Graph;
  readonly eval: Graph;
  /** param name -> gradient output name in the training graph. */
  readonly gradients: Record<string, string>;
}

export interface TrainGraphOptions {
  /**
   * Recompute each decoder block's activations in the backward instead of keeping them from the forward: only
   * the residual stream entering each block is kept (see autodiff's `recompute`).
   */
  readonly gradientCheckpointing?: boolean;
  /**
   * Recompute the attention probabilities in the backward instead of keeping them from the forward (default
   * true; see attentionSegment): 8 × 8.4 MB less at the bench's LoRA peak for ≈ 3% of its step time. Moot under
   * gradientCheckpointing, which recomputes whole blocks.
   */
  readonly recomputeAttention?: boolean;
  /**
   * Compute precision of the training graph. float16/bfloat16: the model in half, float32 master weights and
   * loss, a fed `loss_scale` (mixed-precision.ts) — meant for the CUDA provider; default float32.
   */
  readonly precision?: 'float32' | HalfDType;
}

// Node names carry the builder's scope: 'model.layers.3/...' (Llama family), 'transformer.h.3/...' (GPT-2).
const BLOCK_SCOPE = /^((?:model\.layers|transformer\.h)\.\d+)\//;

/** The decoder block a forward node belongs to, as a checkpointing segment. */
export function blockSegment(node: Node): string | null {
  return BLOCK_SCOPE.exec(node.name)?.[1] ?? null;
}

const ACTIVATION = new RegExp(`^(.*/${ACTIVATION_SCOPE})/`);
const ATTENTION = new RegExp(`^(.*/${ATTENTION_SCOPE})/`);

/**
 * An MLP activation (models' ACTIVATION_SCOPE) as a recompute segment: its backward recomputes the elementwise
 * intermediates (SwiGLU's sigmoid and SiLU, GELU's polynomial) from the pre-activations, which are kept anyway,
 * instead of keeping them from the forward — ≈ 11 MB a layer for the bench model's LoRA step, for two passes.
 */
export function activationSegment(node: Node): string | null {
  return ACTIVATION.exec(node.name)?.[1] ?? null;
}

/**
 * The attention probabilities (models' ATTENTION_SCOPE) as a recompute segment: the backward recomputes the
 * scores and softmax from q, k and the mask, which it keeps anyway for the scores' gradients, instead of keeping
 * the probabilities — B·H·T·S floats a layer (8.4 MB for the bench model's 4 × 256 batch) for one batched
 * q·kᵀ and one softmax pass.
 */
export function attentionSegment(node: Node): string | null {
  return ATTENTION.exec(node.name)?.[1] ?? null;
}

export function buildTrainGraphs(model: TrainModel, method: TrainMethod, opts: TrainGraphOptions = {}): TrainGraphs {
  const forward = (training: boolean): Graph => {
    if (method.buildGraph !== undefined) {
      const q = model.quantized;
      const g = method.buildGraph('loss', { training, ...(q === undefined ? {} : { quantized: q }) });
      const missing = q === undefined ? undefined : [...q.keys()].find((n) => !g.values.has(`${n}.qweight`));
      if (missing !== undefined) {
        throw new TrainError(
          'bad_hyperparameter',
          `method '${method.method}' did not build on the quantized base ('${missing}' is not read quantized); train it without --quantize`,
        );
      }
      return g;
    }
    const trainable = method.trainable ?? [...method.params.keys()].filter((n) => model.weights.has(n));
    const weights = new Map<string, TensorData>(model.weights);
    for (const n of trainable) weights.set(n, method.params.get(n) as TensorData);
    const ext = training ? method.extensions : (method.evalExtensions ?? method.extensions);
    return buildCausalLM(model.config, weights, {
      mode: 'loss',
      trainable,
      ...(model.quantized === undefined ? {} : { quantized: model.quantized }),
      ...(ext === undefined ? {} : { extensions: ext }),
    });
  };
  const wrt = [...method.params.keys()];
  // The gradient of the summed NLL: the loop adds it over an accumulation window and divides by the window's
  // token count, so a step's gradient is that of the window's token mean (Hugging Face's rule).
  let fwd = forward(true);
  let loss: string = CAUSAL_LM_NAMES.lossSum;
  if (opts.precision !== undefined && opts.precision !== 'float32') {
    const logits = fwd.nodes.find((n) => n.opType === 'LogSoftmax')?.inputs[0];
    if (logits === undefined)
      throw new TrainError('bad_hyperparameter', 'mixed precision: the loss graph has no LogSoftmax');
    const mp = toMixedPrecision(fwd, { dtype: opts.precision, logits, loss });
    fwd = mp.graph;
    loss = mp.scaledLoss;
  }
  const { graph, gradients } = buildGradientGraph(fwd, {
    loss,
    wrt,
    recompute:
      opts.gradientCheckpointing === true
        ? blockSegment
        : opts.recomputeAttention === false
          ? activationSegment
          : (node) => activationSegment(node) ?? attentionSegment(node),
  });
  return { train: graph, eval: paramsAsInputs(forward(false), wrt), gradients };
}

/** Turns the named trainable initialisers into graph inputs (as the gradient graph does with its wrt). */
export function paramsAsInputs(g: Graph, names: readonly string[]): Graph {
  const set = new Set(names);
  const moved = g.initializers.filter((i) => set.has(i.name));
  const inputs = moved.map((i) => {
    const v = g.values.get(i.name);
    return v ?? { name: i.name, dtype: i.tensor.dtype, shape: [...i.tensor.dims] };
  });
  return { ...g, inputs: [...g.inputs, ...inputs], initializers: g.initializers.filter((i) => !set.has(i.name)) };
}
