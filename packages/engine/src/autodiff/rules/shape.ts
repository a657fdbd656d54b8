// View and layout ops. Views (Reshape, Flatten, Squeeze, Unsqueeze) send the gradient back through a Reshape
// to the input's shape; Transpose through the inverse permutation; Concat and Split into each other; Slice
// pads the gradient back into zeros and Pad slices it back out.

import { attr, type Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { castTo, reshapeLike, scatterND, size, zerosLike } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

const view: RuleEntry = {
  grad: (ctx) =>
    ctx.node.inputs.map((_, i) => (i === 0 && ctx.needs(0) ? reshapeLike(ctx.b, go0(ctx), ctx.I(0)) : null)),
};

function transposeGrad(ctx: GradContext): (Value | null)[] {
  if (!ctx.needs(0)) return [null];
  let perm = ctx.attrInts('perm');
  if (perm === undefined) {
    const r = ctx.I(0).shape?.length;
    if (r === undefined) ctx.unsupported('Transpose without perm needs a known input rank');
    perm = Array.from({ length: r }, (_, i) => r - 1 - i);
  }
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return [ops.transpose(ctx.b, go0(ctx), inverse)];
}

/** Size of x along `axis` as an int64 [1] tensor (a constant when the dim is fixed). */
function dimAt(ctx: GradContext, x: Value, axis: number): Value {
  const s = x.shape;
  if (s !== undefined) {
    const a = axis < 0 ? axis + s.length : axis;
    const d = s[a];
    if (typeof d === 'number') return ops.const1d(ctx.b, [d], 'int64', 'split');
    return ops.shape(ctx.b, x, a, a + 1);
  }
  return ops.shape(ctx.b, x, axis, axis === -1 ? undefined : axis + 1);
}

function concatGrad(ctx: GradContext): (Value | null)[] {
  const { b } = ctx;
  const axis = ctx.attrInt('axis', 0);
  const n = ctx.node.inputs.length;
  if (n === 1) return [ctx.needs(0) ? go0(ctx) : null];
  const sizes = ops.concat(
    b,
    ctx.node.inputs.map((_, i) => dimAt(ctx, ctx.I(i), axis)),
    0,
  );
  const parts = b.op(
    'Split',
    [go0(ctx), sizes],
    { axis: attr.int(axis) },
    {
      outputs: n,
      dtypes: ctx.node.inputs.map(() => go0(ctx).dtype),
      shapes: ctx.node.inputs.map((_, i) => ctx.I(i).shape),
    },
  );
  return parts.map((p, i) => (ctx.needs(i) ? p : null));
}

function splitGrad(ctx: GradContext): (Value | null)[] {
  if (!ctx.needs(0)) return ctx.node.inputs.map(() => null);
  const pieces = ctx.node.outputs.map((_, i) => ctx.GO(i) ?? zerosLike(ctx.b, ctx.O(i)));
  const dx = ops.concat(ctx.b, pieces, ctx.attrInt('axis', 0));
  return ctx.node.inputs.map((_, i) => (i === 0 ? dx : null));
}

function allOnes(ctx: GradContext, i: number): boolean {
  if (!ctx.hasInput(i)) return true;
  const steps = ctx.constInts(i);
  return steps?.every((s) => s === 1) === true;
}

/**
 * Unit steps (the usual case: causal-LM shift, rotate-half) pad the gradient back with zeros, the pads
 * computed at run time from Slice's own clamping rule so symbolic dims and negative bounds work. Other steps
 * (or opsets without Pad's axes input) scatter the gradient through the flat indices of the sliced elements,
 * which reuses Slice itself for the index bookkeeping.
 */
function sliceGrad(ctx: GradContext): (Value | null)[] {
  const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
  if (!ctx.needs(0)) return grads;
  const { b } = ctx;
  const x = ctx.I(0);
  const g = go0(ctx);
  if (ctx.opset >= 18 && allOnes(ctx, 4)) {
    const starts = castTo(b, ctx.I(1), 'int64');
    let axes: Value;
    if (ctx.hasInput(3)) axes = castTo(b, ctx.I(3), 'int64');
    else {
      const n = ctx.constInts(1)?.length;
      axes =
        n !== undefined
          ? ops.const1d(
              b,
              Array.from({ length: n }, (_, i) => i),
              'int64',
              'axes',
            )
          : ops.range(b, 0, ops.squeeze(b, ops.shape(b, starts), [0]), 1, 'int64');
    }
    const d = ops.gather(b, ops.shape(b, x), axes, 0);
    const wrapped = ops.add(b, starts, ops.mul(b, d, ops.cast(b, ops.less(b, starts, 0), 'int64')));
    const begin = ops.max(b, ops.min(b, wrapped, d), ops.const1d(b, [0], 'int64', 'zero'));
    const len = ops.gather(b, ops.shape(b, ctx.O(0)), axes, 0);
    const end = ops.sub(b, ops.sub(b, d, begin), len);
    const pads = ops.concat(b, [begin, end], 0);
    grads[0] = b.op1(
      'Pad',
      [g, pads, null, axes],
      { mode: attr.string('constant') },
      { dtypes: [g.dtype], shapes: [x.shape] },
    );
    return grads;
  }
  const n = size(b, x);
  const flat = ops.reshape(b, ops.range(b, 0, n, 1, 'int64'), ops.shape(b, x), x.shape);
  const picked = b.op1(
    'Slice',
    [flat, ...ctx.node.inputs.slice(1).map((name) => (name === '' ? null : b.value(name)))],
    {},
    {
      dtypes: ['int64'],
    },
  );
  const idx = ops.reshape(b, picked, [-1, 1]);
  const zeros = ops.constantOfShape(b, ops.unsqueeze(b, n, [0]), 0, g.dtype);
  const scattered = scatterND(b, zeros, idx, ops.reshape(b, g, [-1]), 'none');
  grads[0] = reshapeLike(b, scattered, x);
  return grads;
}

/** Constant-mode padding by constant, non-negative pads: the gradient is the un-padded window of g. */
function padGrad(ctx: GradContext): (Value | null)[] {
  const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
  if (!ctx.needs(0)) return grads;
  if (ctx.attrString('mode', 'constant') !== 'constant') ctx.unsupported('only mode=constant is supported');
  const pads = ctx.constInts(1);
  if (pads === undefined || pads.some((p) => p < 0)) ctx.unsupported('pads must be constant and non-negative');
  const n = pads.length / 2;
  const axes = ctx.hasInput(3) ? ctx.constInts(3) : Array.from({ length: n }, (_, i) => i);
  if (axes === undefined) ctx.unsupported('axes must be constant');
  // Ends count back from the end of the padded dim, so no shape is needed.
  const ends = pads.slice(n).map((e) => (e === 0 ? Number.MAX_SAFE_INTEGER : -e));
  grads[0] = ops.slice(ctx.b, go0(ctx), pads.slice(0, n), ends, axes);
  return grads;
}

export const shapeRules: Record<string, RuleEntry> = {
  ':Reshape': view,
  ':Flatten': view,
  ':Squeeze': view,
  ':Unsqueeze': view,
  ':Transpose': { grad: transposeGrad },
  ':Concat': { grad: concatGrad },
  ':Split': { grad: splitGrad },
  ':Slice': { grad: sliceGrad },
  ':Pad': { grad: padGrad },
};
