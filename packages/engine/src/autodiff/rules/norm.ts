// Normalisations and dropout. Each reuses what its forward kernel already computed (LayerNormalization's mean
// and inverse std, SimplifiedLayerNormalization's inv_std_var, Dropout's mask), asking the sweep to expose
// those outputs when the model did not, instead of recomputing a reduction.

import type { Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { unbroadcast } from '../broadcast.js';
import { castTo, statsDtype } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

/** The normalised axes [axis, rank): negative axes count from the end, so they need no rank. */
function normAxes(ctx: GradContext): number[] {
  const axis = ctx.attrInt('axis', -1);
  if (axis < 0) return Array.from({ length: -axis }, (_, i) => axis + i);
  const r = ctx.I(0).shape?.length;
  if (r === undefined) ctx.unsupported(`a non-negative axis (${axis}) needs a known input rank`);
  return Array.from({ length: r - axis }, (_, i) => axis + i);
}

/** Saved statistics are used when present, except for float64 inputs (onnxruntime stores them in float32). */
function useSaved(ctx: GradContext, outputs: readonly number[]): boolean {
  return ctx.I(0).dtype !== 'float64' && outputs.every((i) => ctx.hasOutput(i));
}

/**
 * y = x̂·s + b with x̂ = (x − μ)·r:
 *   ds = Σ g·x̂,  db = Σ g  (over the leading axes, via unbroadcast),
 *   dx = r · (g·s − mean(g·s) − x̂ · mean(g·s·x̂)).
 */
function layerNormGrad(ctx: GradContext): (Value | null)[] {
  const { b } = ctx;
  const x = ctx.I(0);
  const scale = ctx.I(1);
  const g = go0(ctx);
  const eps = ctx.attrFloat('epsilon', 1e-5);
  let xhat: Value;
  let inv: Value;
  if (useSaved(ctx, [1, 2])) {
    inv = castTo(b, ctx.O(2), x.dtype);
    xhat = ops.mul(b, ops.sub(b, x, castTo(b, ctx.O(1), x.dtype)), inv);
  } else {
    const xc = ops.sub(b, x, ops.reduceMean(b, x, normAxes(ctx), true));
    inv = ops.reciprocal(b, ops.sqrt(b, ops.add(b, ops.reduceMean(b, ops.mul(b, xc, xc), normAxes(ctx), true), eps)));
    xhat = ops.mul(b, xc, inv);
  }
  const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
  if (ctx.needs(1)) grads[1] = unbroadcast(b, ops.mul(b, g, xhat), x.shape, scale);
  if (ctx.hasInput(2) && ctx.needs(2)) grads[2] = unbroadcast(b, g, x.shape, ctx.I(2));
  if (ctx.needs(0)) {
    const axes = normAxes(ctx);
    const dxhat = ops.mul(b, g, scale);
    const m1 = ops.reduceMean(b, dxhat, axes, true);
    const m2 = ops.reduceMean(b, ops.mul(b, dxhat, xhat), axes, true);
    grads[0] = ops.mul(b, inv, ops.sub(b, ops.sub(b, dxhat, m1), ops.mul(b, xhat, m2)));
  }
  return grads;
}

/**
 * RMS norm, y = x·r·s with r = (mean(x²) + ε)^-½:
 *   ds = Σ g·x̂,  dx = r · (g·s − x̂ · mean(g·s·x̂)),  x̂ = x·r.
 */
function simplifiedLayerNormGrad(ctx: GradContext): (Value | null)[] {
  const { b } = ctx;
  const x = ctx.I(0);
  const scale = ctx.I(1);
  const g = go0(ctx);
  const eps = ctx.attrFloat('epsilon', 1e-5);
  const inv = useSaved(ctx, [1])
    ? castTo(b, ctx.O(1), x.dtype)
    : ops.reciprocal(b, ops.sqrt(b, ops.add(b, ops.reduceMean(b, ops.mul(b, x, x), normAxes(ctx), true), eps)));
  const xhat = ops.mul(b, x, inv);
  const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
  if (ctx.needs(1)) grads[1] = unbroadcast(b, ops.mul(b, g, xhat), x.shape, scale);
  if (ctx.needs(0)) {
    const dxhat = ops.mul(b, g, scale);
    const m = ops.reduceMean(b, ops.mul(b, dxhat, xhat), normAxes(ctx), true);
    grads[0] = ops.mul(b, inv, ops.sub(b, dxhat, ops.mul(b, xhat, m)));
  }
  return grads;
}

/** Training-mode dropout: dx = g · mask / (1 − ratio); in inference mode the identity. */
function dropoutGrad(ctx: GradContext): (Value | null)[] {
  const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
  if (!ctx.needs(0)) return grads;
  const { b } = ctx;
  const x = ctx.I(0);
  const g = go0(ctx);
  const mode = ctx.hasInput(2) ? ctx.constant(2) : { dtype: 'bool' as const, dims: [], data: new Uint8Array([0]) };
  if (mode !== undefined && Number(mode.data[0]) === 0) {
    grads[0] = g;
    return grads;
  }
  const ratioConst = ctx.hasInput(1) ? ctx.constant(1) : { dtype: x.dtype, dims: [], data: new Float64Array([0.5]) };
  let scale: Value =
    ratioConst !== undefined
      ? ops.scalar(b, 1 / (1 - Number(ratioConst.data[0])), x.dtype)
      : ops.reciprocal(b, ops.sub(b, 1, castTo(b, ctx.I(1), x.dtype)));
  // A run-time training flag: in inference mode the mask is all ones and no scaling applies.
  if (mode === undefined) scale = ops.where(b, ctx.I(2), scale, 1);
  grads[0] = ops.mul(b, ops.mul(b, g, ops.cast(b, ctx.O(1), x.dtype)), scale);
  return grads;
}

const simplified: RuleEntry = { grad: simplifiedLayerNormGrad, saves: [{ index: 1, dtype: statsDtype }] };

export const normRules: Record<string, RuleEntry> = {
  ':LayerNormalization': {
    grad: layerNormGrad,
    saves: [
      { index: 1, dtype: statsDtype },
      { index: 2, dtype: statsDtype },
    ],
  },
  // onnxruntime registers SimplifiedLayerNormalization in the default domain (onnx/ops.ts emits it there);
  // the com.microsoft spelling is accepted too.
  ':SimplifiedLayerNormalization': simplified,
  'com.microsoft:SimplifiedLayerNormalization': simplified,
  ':Dropout': { grad: dropoutGrad, saves: [{ index: 1, dtype: () => 'bool' }] },
};
