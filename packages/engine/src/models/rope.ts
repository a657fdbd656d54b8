// Rotary position embeddings with transformers' rotate-half convention: the frequencies of the first half of
// the head dimension are repeated for the second half, and q' = q·cos + rotate_half(q)·sin with
// rotate_half([x1, x2]) = [-x2, x1]. Applied by com.microsoft RotaryEmbedding (one pass; its backward is the
// same op with −sin), whose cos/sin tables here hold one row per (batch, position) of the input: row b·T + t
// is cos/sin of position_ids[b, t]·inv_freq, so any position ids (left padding, a KV cache offset) work.

import type { Value } from '../onnx/ir.js';
import { cast, cos, mul, range, reshape, rotaryEmbedding, shape, sin, unsqueeze } from '../onnx/ops.js';
import { ropeInvFreq } from './config.js';
import type { BuildContext } from './context.js';

export interface RopeTables {
  /** [B·T, hd/2]: cos of position·inv_freq, one row per (batch, position). */
  readonly cos: Value;
  /** [B·T, hd/2]: sin of the same. */
  readonly sin: Value;
  /** [B, T] int64: b·T + t, the table row of each input position. */
  readonly rows: Value;
}

/** cos/sin tables for position_ids [B, T] (int64), shared by every layer. */
export function ropeTables(ctx: BuildContext, positionIds: Value): RopeTables {
  const { b, cfg, dims } = ctx;
  const invFreq = ctx.b.constant(
    { dtype: 'float32', dims: [cfg.headDim / 2], data: ropeInvFreq(cfg) },
    'rope_inv_freq',
  );
  const pos = unsqueeze(b, cast(b, positionIds, 'float32'), [-1]); // [B, T, 1] or, by default, [1, T, 1]
  const freqs = reshape(b, mul(b, pos, invFreq), [-1, cfg.headDim / 2]); // [B·T or T, hd/2]
  // Row of each position: b·T + t; for the default [1, T] positions t, repeated (Expand) for every batch row.
  const n = b.op1('Size', [positionIds], {}, { dtypes: ['int64'], shapes: [[]] });
  const rows = reshape(b, range(b, 0, n, 1, 'int64'), shape(b, positionIds));
  const bt = b.op1('Expand', [rows, ctx.bt], {}, { dtypes: ['int64'], shapes: [[dims.B, dims.T]] });
  return { cos: cos(b, freqs), sin: sin(b, freqs), rows: bt };
}

/** x [B, H, T, hd] rotated: x·cos + rotate_half(x)·sin. */
export function applyRope(ctx: BuildContext, x: Value, t: RopeTables): Value {
  return rotaryEmbedding(ctx.b, x, t.rows, t.cos, t.sin);
}
