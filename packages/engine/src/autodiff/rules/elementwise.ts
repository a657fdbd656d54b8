// Elementwise ops: arithmetic with broadcasting, unary functions, selection, casts. Derivatives are written in
// terms of the forward output where that saves a pass (exp, sqrt, tanh, sigmoid, reciprocal, div).

import type { Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { unbroadcast } from '../broadcast.js';
import { castTo, MS } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';

/** The single output gradient of a one-output op (the sweep only calls a rule when one exists). */
export function go0(ctx: GradContext): Value {
  const g = ctx.GO(0);
  if (g === null) ctx.unsupported('called without an output gradient');
  return g;
}

/** Gradient for input i of a broadcasting op: `make` builds it at the output's shape, then it is reduced. */
function reduced(ctx: GradContext, i: number, make: () => Value): Value | null {
  if (!ctx.needs(i)) return null;
  return unbroadcast(ctx.b, make(), ctx.O(0).shape, ctx.I(i));
}

const unary = (f: (ctx: GradContext, g: Value) => Value): RuleEntry => ({
  grad: (ctx) => [ctx.needs(0) ? f(ctx, go0(ctx)) : null],
});

export const elementwiseRules: Record<string, RuleEntry> = {
  ':Add': {
    grad: (ctx) => [reduced(ctx, 0, () => go0(ctx)), reduced(ctx, 1, () => go0(ctx))],
  },
  ':Sub': {
    grad: (ctx) => [reduced(ctx, 0, () => go0(ctx)), reduced(ctx, 1, () => ops.neg(ctx.b, go0(ctx)))],
  },
  ':Mul': {
    grad: (ctx) => [
      reduced(ctx, 0, () => ops.mul(ctx.b, go0(ctx), ctx.I(1))),
      reduced(ctx, 1, () => ops.mul(ctx.b, go0(ctx), ctx.I(0))),
    ],
  },
  ':Div': {
    // d(a/b)/db = -a/b² = -y/b.
    grad: (ctx) => [
      reduced(ctx, 0, () => ops.div(ctx.b, go0(ctx), ctx.I(1))),
      reduced(ctx, 1, () => ops.neg(ctx.b, ops.div(ctx.b, ops.mul(ctx.b, go0(ctx), ctx.O(0)), ctx.I(1)))),
    ],
  },
  ':Pow': {
    grad: (ctx) => {
      const { b } = ctx;
      const x = ctx.I(0);
      const p = castTo(b, ctx.I(1), x.dtype);
      const two = ctx.constant(1);
      const dx = reduced(ctx, 0, () => {
        // x² is by far the most common power (norms, variances): 2x needs no Pow.
        if (two !== undefined && two.data.length === 1 && Number(two.data[0]) === 2) {
          return ops.mul(b, go0(ctx), ops.mul(b, x, 2));
        }
        return ops.mul(b, go0(ctx), ops.mul(b, p, ops.pow(b, x, ops.sub(b, p, 1))));
      });
      // d(x^p)/dp = y·ln x; the exponent's own dtype may differ from x's.
      const dp = ctx.needs(1)
        ? castTo(
            b,
            unbroadcast(b, ops.mul(b, go0(ctx), ops.mul(b, ctx.O(0), ops.log(b, x))), ctx.O(0).shape, p),
            ctx.I(1).dtype,
          )
        : null;
      return [dx, dp];
    },
  },
  ':Where': {
    grad: (ctx) => [
      null,
      reduced(ctx, 1, () => ops.where(ctx.b, ctx.I(0), go0(ctx), 0)),
      reduced(ctx, 2, () => ops.where(ctx.b, ctx.I(0), 0, go0(ctx))),
    ],
  },
  // Max/Min pass the gradient to every input equal to the result (ties: each of them gets it in full).
  ':Max': { grad: selectByEquality },
  ':Min': { grad: selectByEquality },
  ':Neg': unary((ctx, g) => ops.neg(ctx.b, g)),
  ':Identity': unary((_ctx, g) => g),
  ':Exp': unary((ctx, g) => ops.mul(ctx.b, g, ctx.O(0))),
  ':Log': unary((ctx, g) => ops.div(ctx.b, g, ctx.I(0))),
  ':Sqrt': unary((ctx, g) => ops.div(ctx.b, g, ops.mul(ctx.b, ctx.O(0), 2))),
  ':Reciprocal': unary((ctx, g) => {
    const y = ctx.O(0);
    return ops.neg(ctx.b, ops.mul(ctx.b, g, ops.mul(ctx.b, y, y)));
  }),
  ':Tanh': unary((ctx, g) => {
    const y = ctx.O(0);
    return ops.mul(ctx.b, g, ops.sub(ctx.b, 1, ops.mul(ctx.b, y, y)));
  }),
  ':Sigmoid': unary((ctx, g) => {
    const y = ctx.O(0);
    return ops.mul(ctx.b, g, ops.mul(ctx.b, y, ops.sub(ctx.b, 1, y)));
  }),
  // y = x·s, s = sigmoid(αx): dy/dx = s + αx·s(1 − s) = s + α·y·(1 − s). Five passes (s recomputed; y is the
  // forward output), where x·sigmoid(x) written out takes seven and keeps s.
  [`${MS}:QuickGelu`]: unary((ctx, g) => {
    const { b } = ctx;
    const alpha = ctx.attrFloat('alpha', 1.702);
    // s is computed here, after the output gradient exists: read straight from x, onnxruntime could compute it in
    // the forward and keep it until the backward (measured: +80 MB for the bench's LoRA step).
    const x = ctx.after(ctx.I(0));
    const s = ops.sigmoid(b, alpha === 1 ? x : ops.mul(b, x, alpha));
    let ys = ops.mul(b, ctx.O(0), ops.sub(b, 1, s));
    if (alpha !== 1) ys = ops.mul(b, ys, alpha);
    return ops.mul(b, g, ops.add(b, s, ys));
  }),
  ':Relu': unary((ctx, g) => ops.where(ctx.b, ops.greater(ctx.b, ctx.O(0), 0), g, 0)),
  ':Abs': unary((ctx, g) => ops.mul(ctx.b, g, ctx.b.op1('Sign', [ctx.I(0)], {}, { shapes: [ctx.I(0).shape] }))),
  ':Erf': unary((ctx, g) => {
    const { b } = ctx;
    const x = ctx.I(0);
    // d erf(x)/dx = 2/√π · exp(-x²)
    const d = ops.mul(b, ops.exp(b, ops.neg(b, ops.mul(b, x, x))), 2 / Math.sqrt(Math.PI));
    return ops.mul(b, g, d);
  }),
  ':Cast': unary((ctx, g) => castTo(ctx.b, g, ctx.I(0).dtype)),
  ':Expand': { grad: (ctx) => [reduced(ctx, 0, () => go0(ctx)), null] },
};

function selectByEquality(ctx: GradContext): (Value | null)[] {
  const y = ctx.O(0);
  return ctx.node.inputs.map((_, i) =>
    reduced(ctx, i, () => ops.where(ctx.b, ops.equal(ctx.b, ctx.I(i), y), go0(ctx), 0)),
  );
}
