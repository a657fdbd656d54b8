// Building blocks shared by the architectures: linear projections (the `linear` extension point), norms and
// activations with transformers' exact formulas.

import type { Value } from '../onnx/ir.js';
import {
  add,
  concat,
  const1d,
  erf,
  fusedMatMul,
  layerNorm as layerNormOp,
  matmul,
  mul,
  quickGelu,
  relu,
  reshape,
  simplifiedLayerNorm,
  tanh,
} from '../onnx/ops.js';
import { dequantizedWeight, quantizedMatMul } from '../quant/graph.js';
import type { QuantizedWeight } from '../quant/types.js';
import { type Activation, normEps } from './config.js';
import type { BuildContext } from './context.js';
import type { LinearModule } from './extensions.js';

export interface LinearOptions {
  readonly bias: boolean;
  /** 'out_in': nn.Linear [out, in]; 'in_out': GPT-2 Conv1D [in, out]. */
  readonly layout: 'out_in' | 'in_out';
  /** Checkpoint name of the weight when it is not `${name}.weight` (a tied LM head reads the embeddings). */
  readonly weightName?: string;
}

/** y = x·Wᵀ + b (nn.Linear) or x·W + b (Conv1D) on x [N, in] → [N, out], then the `linear` hook. */
export function linear(
  ctx: BuildContext,
  name: string,
  x: Value,
  inF: number,
  outF: number,
  opts: LinearOptions,
): Value {
  const { b, w } = ctx;
  const weightName = opts.weightName ?? `${name}.weight`;
  const quantized = w.quantized(weightName, opts.layout === 'out_in' ? [outF, inF] : [inF, outF]);
  const bias = opts.bias ? w.get(`${name}.bias`, [outF]) : null;
  let y: Value;
  let weight: Value | undefined;
  if (quantized !== undefined)
    y = quantizedMatMul(b, x, quantized); // [N, out], a QLoRA base
  else {
    weight = opts.layout === 'out_in' ? w.get(weightName, [outF, inF]) : w.get(weightName, [inF, outF]);
    // transB instead of a Transpose node: a transposed frozen weight would be constant-folded into a second copy.
    y = opts.layout === 'out_in' ? fusedMatMul(b, x, weight, { transB: true }) : matmul(b, x, weight); // [N, out]
  }
  if (bias !== null) y = add(b, y, bias);
  if (ctx.ext.linear === undefined) return y;
  // A hook that reads a quantized weight gets it dequantized (nodes pruned when no hook uses them).
  weight ??= dequantizedWeight(b, quantized as QuantizedWeight);
  const module: LinearModule = { name, weight, bias, layout: opts.layout, inFeatures: inF, outFeatures: outF };
  return ctx.ext.linear(b, name, x, y, module);
}

/** RMSNorm as transformers computes it: float32 x · rsqrt(mean(x²) + eps) · weight, over the last axis. */
export function rmsNorm(ctx: BuildContext, name: string, x: Value): Value {
  const weight = ctx.w.get(`${name}.weight`, [ctx.cfg.hiddenSize]);
  return simplifiedLayerNorm(ctx.b, x, weight, { axis: -1, epsilon: normEps(ctx.cfg) });
}

/** nn.LayerNorm over the last axis (GPT-2's ln_1, ln_2, ln_f). */
export function layerNorm(ctx: BuildContext, name: string, x: Value): Value {
  const D = ctx.cfg.hiddenSize;
  const weight = ctx.w.get(`${name}.weight`, [D]);
  const bias = ctx.w.get(`${name}.bias`, [D]);
  return layerNormOp(ctx.b, x, weight, bias, { axis: -1, epsilon: normEps(ctx.cfg) });
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * The builder scope of an MLP's elementwise activation (with SwiGLU's product by `up`): training recomputes what
 * is made inside it from the values entering it, instead of keeping every intermediate (train/graphs.ts).
 */
export const ACTIVATION_SCOPE = 'act';

export function activation(ctx: BuildContext, act: Activation, x: Value): Value {
  const { b } = ctx;
  switch (act) {
    case 'silu':
      // One op (onnxruntime fuses x·sigmoid(x) into it anyway); its gradient rule takes fewer passes.
      return quickGelu(b, x, 1);
    case 'gelu_tanh': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const x3 = mul(b, mul(b, x, x), x);
      const inner = mul(b, add(b, x, mul(b, x3, 0.044715)), SQRT_2_OVER_PI);
      return mul(b, mul(b, x, 0.5), add(b, tanh(b, inner), 1));
    }
    case 'gelu':
      // exact GELU: 0.5·x·(1 + erf(x/√2))
      return mul(b, mul(b, x, 0.5), add(b, erf(b, mul(b, x, Math.SQRT1_2)), 1));
    case 'relu':
      return relu(b, x);
  }
}

/** [N, H·hd] → [B, T, H, hd] (runtime B and T from ctx.bt). */
export function splitHeads(ctx: BuildContext, x: Value, heads: number, headDim: number): Value {
  const { b, dims } = ctx;
  const shape4 = concat(b, [ctx.bt, const1d(b, [heads, headDim])], 0);
  return reshape(b, x, shape4, [dims.B, dims.T, heads, headDim]); // [B, T, H, hd]
}
