// Index ops. Their backward scatters the gradient into zeros with reduction='add' (opset >= 16), so rows
// picked more than once (a token appearing twice in a batch) accumulate. Indices get no gradient.

import type { Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { castTo, scatterND, zerosLike } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

function gatherGrad(ctx: GradContext): (Value | null)[] {
  if (!ctx.needs(0)) return [null, null];
  const { b } = ctx;
  const data = ctx.I(0);
  const g = go0(ctx);
  const idx = castTo(b, ctx.I(1), 'int64');
  const r = data.shape?.length;
  let axis = ctx.attrInt('axis', 0);
  if (axis < 0) {
    if (r === undefined) ctx.unsupported('a negative axis needs a known data rank');
    axis += r;
  }
  const zeros = zerosLike(b, data);
  if (axis === 0) {
    // Embedding lookup: one [.., 1] index per gathered row; ScatterND adds whole rows.
    return [scatterND(b, zeros, ops.unsqueeze(b, idx, [-1]), g, 'add'), null];
  }
  if (r === undefined) ctx.unsupported('a gather along a non-leading axis needs a known data rank');
  // Along axis k: view the gradient as [data[:k], N, data[k+1:]] with the N indices flattened, broadcast the
  // indices over the other axes, and scatter-add along k.
  const gShape = ops.concat(
    b,
    [ops.shape(b, data, 0, axis), ops.const1d(b, [-1], 'int64', 'shape'), ops.shape(b, data, axis + 1)],
    0,
  );
  const g3 = ops.reshape(b, g, gShape);
  const idxShape = Array.from({ length: r }, (_, i) => (i === axis ? -1 : 1));
  const idxB = b.op1('Expand', [ops.reshape(b, idx, idxShape), ops.shape(b, g3)], {}, { dtypes: ['int64'] });
  return [ops.scatterElements(b, zeros, idxB, g3, axis, 'add'), null];
}

function gatherElementsGrad(ctx: GradContext): (Value | null)[] {
  if (!ctx.needs(0)) return [null, null];
  const { b } = ctx;
  const zeros = zerosLike(b, ctx.I(0));
  return [ops.scatterElements(b, zeros, ctx.I(1), go0(ctx), ctx.attrInt('axis', 0), 'add'), null];
}

export const gatherRules: Record<string, RuleEntry> = {
  ':Gather': { grad: gatherGrad },
  ':GatherElements': { grad: gatherElementsGrad },
};
