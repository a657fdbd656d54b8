// The causal-LM loss as transformers computes it: the logits at position t predict labels[t + 1]; positions
// whose target is -100 (and the last position, which has no target) carry no loss; the mean runs over every
// loss-carrying token of the whole batch. Written as LogSoftmax + GatherElements so its backward is
// Exp + ScatterElements(add) in ordinary operators.

import type { GraphBuilder } from '../onnx/builder.js';
import { dimSum } from '../onnx/dims.js';
import type { Dim, Value } from '../onnx/ir.js';
import {
  cast,
  const1d,
  div,
  equal,
  gatherElements,
  logSoftmax,
  max,
  mul,
  neg,
  not,
  reduceSum,
  reshape,
  scalar,
  slice,
  unsqueeze,
  where,
} from '../onnx/ops.js';

export const IGNORE_INDEX = -100;

export interface CausalLMLoss {
  /** Scalar float32 mean negative log-likelihood (0 when no token carries loss). */
  readonly loss: Value;
  /** Scalar float32 sum of the negative log-likelihoods. */
  readonly lossSum: Value;
  /** Scalar int64 number of loss-carrying tokens. */
  readonly tokens: Value;
}

/** logits [N, V] (rows in [B, T] order), labels [B, T] int64. */
export function causalLMLoss(b: GraphBuilder, logits: Value, labels: Value, N: Dim): CausalLMLoss {
  // targets[b, t] = labels[b, t + 1], and IGNORE_INDEX for the last position
  const padded = b.op1(
    'Pad',
    [labels, const1d(b, [0, 0, 0, 1]), scalar(b, IGNORE_INDEX, 'int64')],
    {},
    {
      shapes: [labels.shape === undefined ? undefined : [labels.shape[0] as Dim, dimSum([labels.shape[1] as Dim, 1])]],
    },
  ); // [B, T + 1]
  const shifted = slice(b, padded, [1], [Number.MAX_SAFE_INTEGER], [1]); // [B, T]
  const targets = reshape(b, shifted, [-1], [N]); // [N]
  const valid = not(b, equal(b, targets, IGNORE_INDEX)); // [N] bool
  const safe = where(b, valid, targets, scalar(b, 0, 'int64')); // [N]: ignored rows gather class 0, then weigh 0
  const logp = logSoftmax(b, logits, -1); // [N, V]
  const picked = gatherElements(b, logp, unsqueeze(b, safe, [1]), 1); // [N, 1]
  const weight = unsqueeze(b, cast(b, valid, 'float32'), [1]); // [N, 1]
  const lossSum = reduceSum(b, mul(b, neg(b, picked), weight), [], false); // scalar
  const count = reduceSum(b, weight, [], false); // scalar float32
  // max(count, 1): a batch without targets gives 0, not 0/0 (transformers would return NaN there)
  const loss = div(b, lossSum, max(b, count, 1));
  return { loss, lossSum, tokens: cast(b, count, 'int64') };
}
