// SoftmaxCrossEntropyLoss, whose gradient kernel onnxruntime only ships in its training build. With p =
// exp(log_prob) (the op's second output, reused) the gradient of the scores is c·(p − onehot(label)), c the
// per-position weight of the loss: one Mul and one ScatterElements(add) of −c at the label positions.

import type { Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { castTo, size } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

function softmaxCrossEntropyGrad(ctx: GradContext): (Value | null)[] {
  const grads: (Value | null)[] = ctx.node.inputs.map(() => null);
  if (!ctx.needs(0)) return grads;
  if (ctx.hasInput(2)) ctx.unsupported('class weights are not supported');
  const { b } = ctx;
  const scores = ctx.I(0);
  const dtype = scores.dtype;
  const labels = castTo(b, ctx.I(1), 'int64');
  const g = go0(ctx);
  const reduction = ctx.attrString('reduction', 'mean');
  const ignore = ctx.node.attrs.ignore_index === undefined ? undefined : ctx.attrInt('ignore_index', 0);

  const ignored = ignore === undefined ? undefined : ops.equal(b, labels, ignore);
  const mask = ignored === undefined ? undefined : ops.cast(b, ops.not(b, ignored), dtype);
  const labelShape = ops.shape(b, labels);

  let coef: Value;
  if (reduction === 'none') coef = g;
  else if (reduction === 'sum') coef = ops.expand(b, g, labelShape, labels.shape);
  else if (reduction === 'mean') {
    const n = mask === undefined ? castTo(b, size(b, labels), dtype) : ops.reduceSum(b, mask, [], false);
    coef = ops.expand(b, ops.div(b, g, n), labelShape, labels.shape);
  } else ctx.unsupported(`unknown reduction '${reduction}'`);
  if (mask !== undefined) coef = ops.mul(b, coef, mask);

  // Ignored positions carry −100 or similar, outside [0, C): point them at class 0, where they add c = 0.
  const safe = ignored === undefined ? labels : ops.where(b, ignored, 0, labels);
  const c1 = ops.unsqueeze(b, coef, [1]);
  const p = ops.exp(b, castTo(b, ctx.O(1), dtype));
  grads[0] = ops.scatterElements(b, ops.mul(b, p, c1), ops.unsqueeze(b, safe, [1]), ops.neg(b, c1), 1, 'add');
  return grads;
}

export const lossRules: Record<string, RuleEntry> = {
  ':SoftmaxCrossEntropyLoss': {
    grad: softmaxCrossEntropyGrad,
    saves: [{ index: 1, dtype: (d) => d }],
  },
};
