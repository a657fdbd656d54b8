// Reductions and the softmax family. A reduction's gradient is the output gradient broadcast back over the
// reduced axes (divided by the count for a mean, routed to the arg-max positions for a max).

import type { Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { castTo, reduceSumAxes, shapeOf, size, unsqueezeAxes } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

/** Which axes a Reduce* node reduced: all of them, a list (constant or runtime), or none (a no-op). */
type Axes = { kind: 'all' } | { kind: 'some'; axes: readonly number[] | Value } | { kind: 'none' };

/** ReduceSum reads axes from an input since opset 13, the other Reduce* ops since opset 18. */
function readAxes(ctx: GradContext, inputSince: number): Axes {
  const noop = ctx.attrInt('noop_with_empty_axes', 0) !== 0;
  if (ctx.opset >= inputSince) {
    if (!ctx.hasInput(1)) return noop ? { kind: 'none' } : { kind: 'all' };
    const c = ctx.constInts(1);
    if (c === undefined) return { kind: 'some', axes: ctx.I(1) };
    if (c.length === 0) return noop ? { kind: 'none' } : { kind: 'all' };
    return { kind: 'some', axes: c };
  }
  const a = ctx.attrInts('axes');
  return a === undefined || a.length === 0 ? { kind: 'all' } : { kind: 'some', axes: a };
}

/** v (shaped like the reduction's output) with the reduced axes put back as size-1 dims. */
function keepDims(ctx: GradContext, v: Value, axes: Axes): Value {
  if (ctx.attrInt('keepdims', 1) !== 0 || axes.kind !== 'some') return v;
  return unsqueezeAxes(ctx.b, v, axes.axes);
}

function expandTo(ctx: GradContext, v: Value, x: Value): Value {
  return ops.expand(ctx.b, v, shapeOf(ctx.b, x), x.shape);
}

function reduceRule(inputSince: number, kind: 'sum' | 'mean' | 'max'): RuleEntry {
  return {
    grad: (ctx) => {
      const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
      if (!ctx.needs(0)) return grads;
      const { b } = ctx;
      const x = ctx.I(0);
      const axes = readAxes(ctx, inputSince);
      if (axes.kind === 'none') {
        grads[0] = go0(ctx);
        return grads;
      }
      const g = keepDims(ctx, go0(ctx), axes);
      if (kind === 'sum') {
        grads[0] = expandTo(ctx, g, x);
      } else if (kind === 'mean') {
        grads[0] = expandTo(ctx, ops.div(b, g, count(ctx, x, ctx.O(0))), x);
      } else {
        // Ties share the gradient equally (the subgradient PyTorch's amax uses).
        const y = keepDims(ctx, ctx.O(0), axes);
        const hit = ops.cast(b, ops.equal(b, x, y), x.dtype);
        const n = reduceSumAxes(b, hit, axes.kind === 'all' ? [] : axes.axes, true);
        grads[0] = ops.mul(b, hit, ops.div(b, g, n));
      }
      return grads;
    },
  };
}

/** Elements per reduced group, |x| / |y|, in x's dtype (a constant when both shapes are fixed). */
function count(ctx: GradContext, x: Value, y: Value): Value {
  const fixed = (v: Value): number | undefined =>
    v.shape?.every((d) => typeof d === 'number') ? (v.shape as number[]).reduce((p, d) => p * d, 1) : undefined;
  const nx = fixed(x);
  const ny = fixed(y);
  if (nx !== undefined && ny !== undefined) return ops.scalar(ctx.b, nx / ny, x.dtype);
  return castTo(ctx.b, ops.div(ctx.b, size(ctx.b, x), size(ctx.b, y)), x.dtype);
}

/** Softmax: dx = y ⊙ (g − Σ g⊙y). */
function softmaxGrad(ctx: GradContext): (Value | null)[] {
  if (!ctx.needs(0)) return [null];
  const { b } = ctx;
  const y = ctx.O(0);
  const g = go0(ctx);
  const s = ops.reduceSum(b, ops.mul(b, g, y), [ctx.attrInt('axis', -1)], true);
  return [ops.mul(b, y, ops.sub(b, g, s))];
}

/** LogSoftmax: dx = g − exp(y) · Σ g. */
function logSoftmaxGrad(ctx: GradContext): (Value | null)[] {
  if (!ctx.needs(0)) return [null];
  const { b } = ctx;
  const g = go0(ctx);
  const s = ops.reduceSum(b, g, [ctx.attrInt('axis', -1)], true);
  return [ops.sub(b, g, ops.mul(b, ops.exp(b, ctx.O(0)), s))];
}

export const reduceRules: Record<string, RuleEntry> = {
  ':ReduceSum': reduceRule(13, 'sum'),
  ':ReduceMean': reduceRule(18, 'mean'),
  ':ReduceMax': reduceRule(18, 'max'),
  ':Softmax': { grad: softmaxGrad },
  ':LogSoftmax': { grad: logSoftmaxGrad },
};
