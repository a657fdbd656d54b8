// Scaled dot-product attention with transformers' masking: causal by cache position (query i of T new tokens
// sits at absolute position S - T + i), optionally a sliding window, plus key padding from attention_mask.
// Grouped-query attention never repeats K/V: q is viewed as [B, KVH, nRep·T, hd], so each K/V head serves
// its group in one batched matmul (and their gradients sum over the group by themselves).

import { dimProduct } from '../onnx/dims.js';
import type { Value } from '../onnx/ir.js';
import {
  add,
  and,
  cast,
  const1d,
  fusedMatMul,
  gather,
  less,
  matmul,
  not,
  range,
  reshape,
  scalar,
  shape,
  softmax,
  squeeze,
  sub,
  transpose,
  unsqueeze,
  where,
} from '../onnx/ops.js';
import type { BuildContext } from './context.js';

/**
 * transformers fills masked scores with the dtype's minimum; a fully masked row (a left-pad query) then
 * softmaxes to a uniform distribution instead of NaN.
 */
const MASKED = -3.4028234663852886e38;

/**
 * The builder scope of the attention probabilities: scores, mask, softmax and their product with v. Training
 * recomputes what is made inside it in the backward from q, k, v and the mask (train/graphs.ts) instead of
 * keeping the probabilities [B, H, T, S] of every layer from the forward; the product with v is inside
 * because its gradient rule reads the probabilities (for dV).
 */
export const ATTENTION_SCOPE = 'sdpa';

/** Additive float32 masks [B, 1, nRep·T, S], built once per window size (null: full causal attention). */
export type MaskFor = (window: number | null) => Value;

/** Masks from attention_mask [B, S] int64; the queries are the last T = ctx.bt[1] key positions. */
export function attentionMasks(ctx: BuildContext, attentionMask: Value, nRep: number): MaskFor {
  const { b, dims } = ctx;
  const cache = new Map<number | null, Value>();
  let idx: { q: Value; k: Value; pad: Value } | undefined;
  const indices = (): { q: Value; k: Value; pad: Value } => {
    if (idx !== undefined) return idx;
    const S = squeeze(b, shape(b, attentionMask, 1, 2), [0]); // scalar
    const T = gather(b, ctx.bt, scalar(b, 1, 'int64')); // scalar
    const kIdx = range(b, scalar(b, 0, 'int64'), S, scalar(b, 1, 'int64'), 'int64', dims.S); // [S]
    const qIdx = range(b, sub(b, S, T), S, scalar(b, 1, 'int64'), 'int64', dims.T); // [T] query positions
    const pad = unsqueeze(b, cast(b, attentionMask, 'bool'), [1, 2]); // [B, 1, 1, S]
    idx = { q: unsqueeze(b, qIdx, [1]), k: unsqueeze(b, kIdx, [0]), pad }; // q [T, 1], k [1, S]
    return idx;
  };
  return (window) => {
    const hit = cache.get(window);
    if (hit !== undefined) return hit;
    const { q, k, pad } = indices();
    let allowed = not(b, less(b, q, k)); // [T, S]: k <= q
    if (window !== null) allowed = and(b, allowed, less(b, sub(b, q, window), k)); // ... and k > q - window
    allowed = and(b, unsqueeze(b, allowed, [0, 1]), pad); // [B, 1, T, S]
    let mask = where(b, allowed, scalar(b, 0, 'float32'), scalar(b, MASKED, 'float32')); // [B, 1, T, S]
    if (nRep > 1) {
      // rows r·T + t of the grouped query view all read mask row t
      mask = b.op1(
        'Tile',
        [mask, const1d(b, [1, 1, nRep, 1])],
        {},
        {
          shapes: [[dims.B, 1, dimProduct([nRep, dims.T]), dims.S]],
        },
      ); // [B, 1, nRep·T, S]
    }
    cache.set(window, mask);
    return mask;
  };
}

/**
 * softmax(q·kᵀ·scale + mask)·v for q [B, H, T, hd] and k, v [B, KVH, S, hd]; returns [N, H·hd] (N = B·T) ready
 * for the output projection.
 */
export function attend(ctx: BuildContext, q: Value, k: Value, v: Value, mask: Value, scale: number): Value {
  const { b, cfg, dims } = ctx;
  const H = cfg.numHeads;
  const KVH = cfg.numKvHeads;
  const hd = cfg.headDim;
  const nRep = H / KVH;
  const rows = dimProduct([nRep, dims.T]);
  const qg = reshape(b, q, [0, KVH, -1, hd], [dims.B, KVH, rows, hd]); // [B, KVH, nRep·T, hd]
  const out = b.scope(ATTENTION_SCOPE, () => {
    const scores = fusedMatMul(b, qg, k, { transB: true, alpha: scale }); // [B, KVH, nRep·T, S]
    const probs = softmax(b, add(b, scores, mask), -1); // [B, KVH, nRep·T, S]
    return matmul(b, probs, v); // [B, KVH, nRep·T, hd]
  });
  const heads = reshape(b, out, [0, H, -1, hd], [dims.B, H, dims.T, hd]); // [B, H, T, hd]
  const bthd = transpose(b, heads, [0, 2, 1, 3]); // [B, T, H, hd]
  return reshape(b, bthd, [-1, H * hd], [dims.N, H * hd]); // [N, H·hd]
}
