// Sequences extended by prompt learning's virtual positions (models/extensions.ts VirtualPositions), in the
// logits and loss graphs. Callers keep feeding the real tokens only: input_ids, attention_mask, position_ids and
// labels of length T. Inside the graph, as PEFT's PeftModelForCausalLM.forward does:
//   attention_mask  → [1]*count ++ attention_mask        (PEFT: prefix_attention_mask of ones)
//   position_ids    → 0..count-1 ++ count + position_ids  (PEFT drops position_ids, so transformers numbers the
//                     whole sequence from 0 — the same for unpadded and right-padded rows; for left padding we keep
//                     the caller's pad-aware positions, shifted)
//   labels          → -100 ×count ++ labels               (embeddings only: there are no virtual rows otherwise)
//   logits          → the rows of the real tokens         (PEFT returns the virtual rows too; nobody reads them)
// Prefix tuning's keys have no rows of their own, so only the mask and the positions change for it.

import type { GraphBuilder } from '../onnx/builder.js';
import type { Dim, Value } from '../onnx/ir.js';
import { add, concat, expand, shape, slice, unsqueeze } from '../onnx/ops.js';
import type { ModelConfig } from './config.js';
import type { DecoderInputs } from './decoder.js';
import { ModelError } from './errors.js';
import type { ModelExtensions, VirtualPositions } from './extensions.js';
import { IGNORE_INDEX } from './loss.js';

export interface VirtualInputs {
  readonly inputs: DecoderInputs;
  readonly labels: Value | null;
  /** The extensions with the virtual positions turned into `embed` / `attentionKV` hooks. */
  readonly ext: ModelExtensions;
  /** Rows of logits before the real tokens' ([B, T', V] → drop the first `dropRows`). */
  readonly dropRows: number;
  /** Key positions ahead of the first query that the graph adds (prefix keys), for contextFor's shape hints. */
  readonly prefixKeys: number;
}

/** A [batch, count] int64 block filled with `value`, batch read from `like` [batch, ·]. */
function block(b: GraphBuilder, like: Value, count: number, value: (i: number) => number): Value {
  const row = b.constant(
    { dtype: 'int64', dims: [1, count], data: BigInt64Array.from({ length: count }, (_, i) => BigInt(value(i))) },
    'virtual_row',
  );
  const bn = concat(
    b,
    [
      shape(b, like, 0, 1),
      b.constant({ dtype: 'int64', dims: [1], data: BigInt64Array.of(BigInt(count)) }, 'virtual_n'),
    ],
    0,
  );
  return expand(b, row, bn, [like.shape?.[0] ?? 'batch', count]);
}

export function checkVirtual(cfg: ModelConfig, v: VirtualPositions): void {
  if (!(Number.isInteger(v.count) && v.count >= 1))
    throw new ModelError('bad_option', `virtual positions: count must be an integer >= 1, got ${v.count}`);
  if (v.kind === 'embeddings' ? v.embeddings === undefined : v.keys === undefined)
    throw new ModelError('bad_option', `virtual positions of kind '${v.kind}' need their ${v.kind} function`);
  if (cfg.family === 'gpt2' && v.count >= cfg.maxPositionEmbeddings)
    throw new ModelError(
      'bad_option',
      `${v.count} virtual tokens leave no room in ${cfg.architecture}'s ${cfg.maxPositionEmbeddings} positions (num_virtual_tokens must be below ${cfg.maxPositionEmbeddings})`,
    );
}

/** Rewrites the real-token inputs of a logits/loss graph for `v` (see the file comment). */
export function withVirtual(
  b: GraphBuilder,
  cfg: ModelConfig,
  v: VirtualPositions,
  ext: ModelExtensions,
  inputs: DecoderInputs,
  labels: Value | null,
): VirtualInputs {
  checkVirtual(cfg, v);
  const n = v.count;
  const ids = inputs.inputIds;
  const B: Dim = ids.shape?.[0] ?? 'batch';
  const mask = concat(b, [block(b, ids, n, () => 1), inputs.attentionMask], 1); // [B, n + S]
  let positionIds: Value | null = null;
  if (inputs.positionIds !== null) {
    const shifted = add(
      b,
      inputs.positionIds,
      b.constant({ dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(n)) }, 'virtual_shift'),
    );
    positionIds = v.kind === 'embeddings' ? concat(b, [block(b, ids, n, (i) => i), shifted], 1) : shifted;
  }
  const out: ModelExtensions = { ...ext };
  delete out.virtual;
  if (v.kind === 'embeddings') {
    const embeddings = v.embeddings as (b: GraphBuilder) => Value;
    const inner = ext.embed;
    out.embed = (bb, idsIn, base) => {
      const real = inner === undefined ? base : inner(bb, idsIn, base); // [B, T, D]
      const e = embeddings(bb); // [n, D]
      const D = cfg.hiddenSize;
      const bnd = concat(
        bb,
        [
          shape(bb, real, 0, 1),
          bb.constant({ dtype: 'int64', dims: [2], data: BigInt64Array.of(BigInt(n), BigInt(D)) }, 'virtual_nd'),
        ],
        0,
      );
      const virt = expand(bb, unsqueeze(bb, e, [0]), bnd, [B, n, D]); // [B, n, D]
      return concat(bb, [virt, real], 1); // [B, n + T, D]
    };
    return {
      inputs: { ...inputs, attentionMask: mask, positionIds },
      labels: labels === null ? null : concat(b, [block(b, ids, n, () => IGNORE_INDEX), labels], 1),
      ext: out,
      dropRows: n,
      prefixKeys: 0,
    };
  }
  const keys = v.keys as (b: GraphBuilder, layer: number) => { k: Value; v: Value };
  const innerKV = ext.attentionKV;
  out.attentionKV = (bb, layer, k, vv) => {
    const p = keys(bb, layer); // [1, KVH, n, hd] each
    const kvShape = [B, cfg.numKvHeads, n, cfg.headDim];
    const target = concat(
      bb,
      [
        shape(bb, k, 0, 1),
        bb.constant(
          { dtype: 'int64', dims: [3], data: BigInt64Array.of(BigInt(cfg.numKvHeads), BigInt(n), BigInt(cfg.headDim)) },
          'virtual_kv',
        ),
      ],
      0,
    );
    const ks = concat(bb, [expand(bb, p.k, target, kvShape), k], 2);
    const vs = concat(bb, [expand(bb, p.v, target, kvShape), vv], 2);
    return innerKV === undefined ? { k: ks, v: vs } : innerKV(bb, layer, ks, vs);
  };
  return { inputs: { ...inputs, attentionMask: mask, positionIds }, labels, ext: out, dropRows: 0, prefixKeys: n };
}

/** logits [B, T', V] without the first `rows` positions. */
export function dropVirtualRows(b: GraphBuilder, logits: Value, rows: number): Value {
  if (rows === 0) return logits;
  return slice(b, logits, [rows], [Number.MAX_SAFE_INTEGER], [1]);
}
