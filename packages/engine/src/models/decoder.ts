// What the causal-LM wrapper hands an architecture, and what it gets back.

import type { Dim, Value } from '../onnx/ir.js';
import { gather, range, scalar, shape, squeeze, sub, unsqueeze } from '../onnx/ops.js';
import type { BuildContext } from './context.js';

/** The KV cache of decode mode, in the HF-ONNX layout [B, KVH, P, hd]. */
export interface KVCache {
  /** Symbolic past length P. */
  readonly pastDim: Dim;
  past(layer: number): { k: Value; v: Value };
  /** Receives the layer's keys/values with the new positions appended: [B, KVH, P + T, hd]. */
  present(layer: number, k: Value, v: Value): void;
}

export interface DecoderInputs {
  /** [B, T] int64. */
  readonly inputIds: Value;
  /** [B, T] int64, or null for transformers' default: the cache positions S - T .. S - 1. */
  readonly positionIds: Value | null;
  /** [B, S] int64, 1 = attend, 0 = padding. */
  readonly attentionMask: Value;
  readonly cache: KVCache | null;
  /** Keys the extensions put ahead of the first new position without a cache (prefix tuning), for shape hints. */
  readonly prefixKeys?: number;
}

export interface DecoderOutput {
  /** [N, V] float32, N = B·T. */
  readonly logits: Value;
  readonly ctx: BuildContext;
}

/** position_ids as transformers defaults them: arange(past, past + T), [1, T]. */
export function positionsOrDefault(ctx: BuildContext, inputs: DecoderInputs): Value {
  if (inputs.positionIds !== null) return inputs.positionIds;
  const { b, dims } = ctx;
  const S = squeeze(b, shape(b, inputs.attentionMask, 1, 2), [0]); // scalar
  const T = gather(b, ctx.bt, scalar(b, 1, 'int64')); // scalar
  const pos = range(b, sub(b, S, T), S, scalar(b, 1, 'int64'), 'int64', dims.T); // [T]
  return unsqueeze(b, pos, [0]); // [1, T]
}
