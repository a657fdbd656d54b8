// config.json and generation_config.json for a small random model of each supported architecture, with the
// field names transformers' config classes use.

import { SPECIAL_TOKENS } from './tokenizer.js';

export type TinyArch = 'qwen2' | 'llama' | 'mistral' | 'gpt2';
export const TINY_ARCHS: readonly TinyArch[] = ['qwen2', 'llama', 'mistral', 'gpt2'];

export interface TinySizes {
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  /** Key/value heads (grouped-query attention); GPT-2 has none of its own and needs kvHeads = heads. */
  readonly kvHeads: number;
  readonly intermediate: number;
  /** Total ids, the three special tokens included (>= 320). */
  readonly vocab: number;
  /** Learned positions (GPT-2) or RoPE range. */
  readonly maxPositions: number;
}

/** The fixtures' tiny shape: hidden 64, 2 layers, 4 heads, 2 KV heads, intermediate 128, vocab 320. */
export const DEFAULT_TINY_SIZES: TinySizes = {
  hidden: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 128,
  vocab: 320,
  maxPositions: 2048,
};

export interface SpecialIds {
  readonly endOfText: number;
  readonly imStart: number;
  readonly imEnd: number;
}

export function specialIdsFor(vocab: number): SpecialIds {
  const first = vocab - SPECIAL_TOKENS.length;
  return { endOfText: first, imStart: first + 1, imEnd: first + 2 };
}

export function makeConfigJson(arch: TinyArch, s: TinySizes): Record<string, unknown> {
  const ids = specialIdsFor(s.vocab);
  const common = {
    bos_token_id: ids.endOfText,
    eos_token_id: arch === 'gpt2' ? ids.endOfText : ids.imEnd,
    initializer_range: 0.02,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: s.vocab,
  };
  const headDim = s.hidden / s.heads;
  switch (arch) {
    case 'gpt2':
      return {
        architectures: ['GPT2LMHeadModel'],
        model_type: 'gpt2',
        activation_function: 'gelu_new',
        attn_pdrop: 0,
        embd_pdrop: 0,
        resid_pdrop: 0,
        layer_norm_epsilon: 1e-5,
        n_ctx: s.maxPositions,
        n_embd: s.hidden,
        n_head: s.heads,
        n_inner: s.intermediate,
        n_layer: s.layers,
        n_positions: s.maxPositions,
        scale_attn_by_inverse_layer_idx: false,
        scale_attn_weights: true,
        reorder_and_upcast_attn: false,
        tie_word_embeddings: true,
        ...common,
      };
    case 'qwen2':
      return {
        architectures: ['Qwen2ForCausalLM'],
        model_type: 'qwen2',
        attention_dropout: 0,
        hidden_act: 'silu',
        hidden_size: s.hidden,
        intermediate_size: s.intermediate,
        max_position_embeddings: s.maxPositions,
        max_window_layers: s.layers,
        num_attention_heads: s.heads,
        num_hidden_layers: s.layers,
        num_key_value_heads: s.kvHeads,
        rms_norm_eps: 1e-6,
        rope_scaling: null,
        rope_theta: 1_000_000,
        sliding_window: null,
        tie_word_embeddings: true,
        use_sliding_window: false,
        ...common,
      };
    case 'llama':
      return {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        attention_bias: false,
        attention_dropout: 0,
        head_dim: headDim,
        hidden_act: 'silu',
        hidden_size: s.hidden,
        intermediate_size: s.intermediate,
        max_position_embeddings: s.maxPositions,
        mlp_bias: false,
        num_attention_heads: s.heads,
        num_hidden_layers: s.layers,
        num_key_value_heads: s.kvHeads,
        pretraining_tp: 1,
        rms_norm_eps: 1e-5,
        rope_scaling: null,
        rope_theta: 10_000,
        tie_word_embeddings: false,
        ...common,
      };
    case 'mistral':
      return {
        architectures: ['MistralForCausalLM'],
        model_type: 'mistral',
        attention_dropout: 0,
        head_dim: headDim,
        hidden_act: 'silu',
        hidden_size: s.hidden,
        intermediate_size: s.intermediate,
        max_position_embeddings: s.maxPositions,
        num_attention_heads: s.heads,
        num_hidden_layers: s.layers,
        num_key_value_heads: s.kvHeads,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000,
        // Full attention: a window larger than any sequence would change nothing, so leave it off.
        sliding_window: null,
        tie_word_embeddings: false,
        ...common,
      };
  }
}

export function makeGenerationConfigJson(arch: TinyArch, vocab: number): Record<string, unknown> {
  const ids = specialIdsFor(vocab);
  return {
    bos_token_id: ids.endOfText,
    eos_token_id: arch === 'gpt2' ? ids.endOfText : [ids.imEnd, ids.endOfText],
    pad_token_id: ids.endOfText,
  };
}
