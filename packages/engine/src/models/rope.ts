// Rotary position embeddings with transformers' rotate-half convention: the frequencies of the first half of
// the head dimension are repeated for the second half, and q' = q·cos + rotate_half(q)·sin with
// rotate_half([x1, x2]) = [-x2, x1].

import type { Value } from '../onnx/ir.js';
import { add, cast, concat, cos, mul, neg, sin, slice, unsqueeze } from '../onnx/ops.js';
import { ropeInvFreq } from './config.js';
import type { BuildContext } from './context.js';

export interface RopeTables {
  /** [B, 1, T, hd]: cos of position·inv_freq, the half repeated. */
  readonly cos: Value;
  /** [B, 1, T, hd]: [-sin, +sin] halves, so that rotate_half(x)·sin = swapHalves(x)·signedSin. */
  readonly signedSin: Value;
}

/** cos/sin tables for position_ids [B, T] (int64), shared by every layer. */
export function ropeTables(ctx: BuildContext, positionIds: Value): RopeTables {
  const { b, cfg } = ctx;
  const invFreq = ctx.b.constant(
    { dtype: 'float32', dims: [cfg.headDim / 2], data: ropeInvFreq(cfg) },
    'rope_inv_freq',
  );
  const pos = unsqueeze(b, cast(b, positionIds, 'float32'), [-1]); // [B, T, 1]
  const freqs = mul(b, pos, invFreq); // [B, T, hd/2]
  const c = cos(b, freqs);
  const s = sin(b, freqs);
  const cosFull = concat(b, [c, c], -1); // [B, T, hd]
  const sinSigned = concat(b, [neg(b, s), s], -1); // [B, T, hd]
  return { cos: unsqueeze(b, cosFull, [1]), signedSin: unsqueeze(b, sinSigned, [1]) }; // [B, 1, T, hd]
}

/** x [B, H, T, hd] rotated: x·cos + rotate_half(x)·sin. */
export function applyRope(ctx: BuildContext, x: Value, t: RopeTables): Value {
  const { b } = ctx;
  const half = ctx.cfg.headDim / 2;
  const x1 = slice(b, x, [0], [half], [-1]); // [B, H, T, hd/2]
  const x2 = slice(b, x, [half], [2 * half], [-1]); // [B, H, T, hd/2]
  const swapped = concat(b, [x2, x1], -1); // [B, H, T, hd]
  return add(b, mul(b, x, t.cos), mul(b, swapped, t.signedSin));
}
