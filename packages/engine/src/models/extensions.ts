// Named extension points. A builder calls each hook at one well-defined place with the checkpoint's module name
// and the value it computed; the hook returns the value to use instead. PEFT methods are hooks: LoRA and IA3
// wrap `linear`, prompt tuning wraps `embed`, prefix tuning wraps `attentionKV`, adapter tuning wraps
// `blockOutput`. Hooks add nodes with the builder they are given and may create (trainable) initialisers.

import type { GraphBuilder } from '../onnx/builder.js';
import type { Value } from '../onnx/ir.js';
import { ModelError } from './errors.js';

/** What a linear hook may need beyond the input: the frozen weight, its bias and its layout. */
export interface LinearModule {
  /** Checkpoint module name, e.g. 'model.layers.0.self_attn.q_proj' or 'transformer.h.0.attn.c_attn'. */
  readonly name: string;
  readonly weight: Value;
  readonly bias: Value | null;
  /** 'out_in' for nn.Linear ([out, in], y = x·Wᵀ), 'in_out' for GPT-2's Conv1D ([in, out], y = x·W). */
  readonly layout: 'out_in' | 'in_out';
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/**
 * Prompt learning's virtual positions: `count` positions before the real tokens that hold no token. With
 * 'embeddings' (prompt tuning, P-tuning) they are input embeddings run through every layer; with 'keys'
 * (prefix tuning) they exist only as keys/values in each layer's attention. buildCausalLM does the rest as PEFT
 * does: attention_mask gets `count` ones in front, real tokens sit at positions count.., labels of virtual
 * positions are -100, and logits are returned for the real tokens only. The decode graph leaves them out: in
 * generation they are the first `count` entries of the KV cache (see models/virtual-cache.ts).
 */
export interface VirtualPositions {
  readonly count: number;
  readonly kind: 'embeddings' | 'keys';
  /** 'embeddings': the virtual token embeddings [count, hidden]. */
  embeddings?(b: GraphBuilder): Value;
  /** 'keys': the layer's prefix keys and values, each [1, kvHeads, count, headDim] (no RoPE applied, as in PEFT). */
  keys?(b: GraphBuilder, layer: number): { k: Value; v: Value };
}

export interface ModelExtensions {
  /** Virtual tokens or prefixes (prompt tuning, P-tuning, prefix tuning); at most one extension has them. */
  virtual?: VirtualPositions;
  /**
   * Every linear projection. `x` is [N, in] (N = batch·seq), `base` = x·W (+ bias) is [N, out]; return [N, out].
   * A hook that does not use `base` leaves dead nodes, which buildCausalLM prunes.
   */
  linear?(b: GraphBuilder, name: string, x: Value, base: Value, module: LinearModule): Value;
  /**
   * Token embeddings: `ids` [batch, seq] int64, `base` [batch, seq, D] (GPT-2 adds its position embeddings
   * after this hook). May return [batch, seq', D] with more positions (prompt tuning); the caller then feeds
   * attention_mask, position_ids and labels of length seq'.
   */
  embed?(b: GraphBuilder, ids: Value, base: Value): Value;
  /**
   * Keys and values of a layer after RoPE and after the KV cache is appended: [batch, kvHeads, S, headDim].
   * Keys a hook prepends must be matched by ones prepended to attention_mask (as PEFT's prefix tuning does).
   */
  attentionKV?(b: GraphBuilder, layer: number, k: Value, v: Value): { k: Value; v: Value };
  /** The residual stream after a decoder block, [N, D]; return [N, D]. */
  blockOutput?(b: GraphBuilder, layer: number, h: Value): Value;
  /** Called once the model is built: an extension checks here that everything it holds found its place. */
  finish?(): void;
}

/** Applies several extensions in order: each hook sees the previous one's result as its base. */
export function composeExtensions(...exts: readonly ModelExtensions[]): ModelExtensions {
  const withLinear = exts.filter((e) => e.linear !== undefined);
  const withEmbed = exts.filter((e) => e.embed !== undefined);
  const withKV = exts.filter((e) => e.attentionKV !== undefined);
  const withBlock = exts.filter((e) => e.blockOutput !== undefined);
  const out: ModelExtensions = {};
  const withVirtual = exts.filter((e) => e.virtual !== undefined);
  if (withVirtual.length > 1)
    throw new ModelError('bad_option', 'only one prompt-learning method (virtual tokens or prefixes) fits a model');
  if (withVirtual[0]?.virtual !== undefined) out.virtual = withVirtual[0].virtual;
  if (withLinear.length > 0) {
    out.linear = (b, name, x, base, module) =>
      withLinear.reduce((y, e) => e.linear?.(b, name, x, y, module) ?? y, base);
  }
  if (withEmbed.length > 0) out.embed = (b, ids, base) => withEmbed.reduce((y, e) => e.embed?.(b, ids, y) ?? y, base);
  if (withKV.length > 0) {
    out.attentionKV = (b, layer, k, v) =>
      withKV.reduce((kv, e) => e.attentionKV?.(b, layer, kv.k, kv.v) ?? kv, { k, v });
  }
  if (withBlock.length > 0) {
    out.blockOutput = (b, layer, h) => withBlock.reduce((y, e) => e.blockOutput?.(b, layer, y) ?? y, h);
  }
  const withFinish = exts.filter((e) => e.finish !== undefined);
  if (withFinish.length > 0) {
    out.finish = () => {
      for (const e of withFinish) e.finish?.();
    };
  }
  return out;
}
