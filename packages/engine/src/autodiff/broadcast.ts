// The one place that turns a gradient of a broadcast result back into the gradient of the smaller operand:
// sum over the axes the operand was broadcast along, then restore its shape. Every rule whose op broadcasts
// (elementwise binaries, Where, Expand, MatMul batch dims, norm scales) calls this.

import type { GraphBuilder } from '../onnx/builder.js';
import type { Dim, Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { reduceSumAxes, reshapeLike, shapeOf, size } from './emit.js';

type Plan = { kind: 'same' } | { kind: 'reduce'; leading: number; inner: number[] } | { kind: 'dynamic' };

/**
 * Decides the reduction from static shapes. A dim the operand has as 1 where the result does not is summed
 * with keepdims; the result's extra leading axes are summed away. A symbolic operand dim facing a different
 * dim could be 1 at run time, so that case (and unknown shapes) is left to the run-time path.
 */
function plan(gShape: readonly Dim[] | undefined, xShape: readonly Dim[] | undefined): Plan {
  if (gShape === undefined || xShape === undefined) return { kind: 'dynamic' };
  const lead = gShape.length - xShape.length;
  if (lead < 0) return { kind: 'dynamic' };
  const inner: number[] = [];
  for (let j = 0; j < xShape.length; j++) {
    const xd = xShape[j] as Dim;
    const gd = gShape[lead + j] as Dim;
    if (xd === gd) continue;
    if (xd === 1) inner.push(lead + j);
    else return { kind: 'dynamic' };
  }
  return lead === 0 && inner.length === 0 ? { kind: 'same' } : { kind: 'reduce', leading: lead, inner };
}

/**
 * Gradient `g` of a result with shape `gShape`, reduced to the shape of operand `x` that was broadcast into
 * it. With unknown shapes the axes are found at run time: pad Shape(x) with leading 1s to g's rank, compare
 * with Shape(g), and ReduceSum over the differing axes (none: a no-op).
 */
export function unbroadcast(b: GraphBuilder, g: Value, gShape: readonly Dim[] | undefined, x: Value): Value {
  const p = plan(gShape, x.shape);
  if (p.kind === 'same') return g;
  if (p.kind === 'reduce') {
    const leading = Array.from({ length: p.leading }, (_, i) => i);
    if (p.inner.length === 0) return reduceSumAxes(b, g, leading, false);
    const summed = reduceSumAxes(b, g, [...leading, ...p.inner], true);
    // Without leading axes the keepdims sum already has x's shape.
    return p.leading === 0 ? summed : reshapeLike(b, summed, x);
  }
  const sg = ops.shape(b, g);
  const sx = ops.shape(b, x);
  const extra = ops.sub(b, size(b, sg), size(b, sx));
  const ones = ops.constantOfShape(b, ops.unsqueeze(b, extra, [0]), 1, 'int64');
  const padded = ops.concat(b, [ones, sx], 0);
  const differs = ops.not(b, ops.equal(b, padded, sg));
  const axes = ops.reshape(b, b.op1('NonZero', [differs], {}, { dtypes: ['int64'] }), [-1]);
  const summed = reduceSumAxes(b, g, axes, true, true);
  return ops.reshape(b, summed, shapeOf(b, x), x.shape);
}
