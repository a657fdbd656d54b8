// Llama-family decoder (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM — DeepSeek LLM is Llama):
// pre-norm blocks of RMSNorm → attention with RoPE → residual, RMSNorm → SiLU-gated MLP → residual; a final
// RMSNorm and the LM head. Parameter names are the checkpoint's (model.layers.{i}.self_attn.q_proj, ...).

import { add, concat, gather, mul, reshape, transpose } from '../onnx/ops.js';
import { attend, attentionMasks } from './attention.js';
import { activationOf, slidingWindowFor } from './config.js';
import { contextFor, type ModelParts } from './context.js';
import { type DecoderInputs, type DecoderOutput, positionsOrDefault } from './decoder.js';
import { ModelError } from './errors.js';
import { ACTIVATION_SCOPE, activation, linear, rmsNorm, splitHeads } from './layers.js';
import { applyRope, ropeTables } from './rope.js';

export function llamaForward(parts: ModelParts, inputs: DecoderInputs): DecoderOutput {
  const { b, cfg, w, ext } = parts;
  if (cfg.family !== 'llama') throw new ModelError('unsupported', `llamaForward cannot build ${cfg.architecture}`);
  const D = cfg.hiddenSize;
  const H = cfg.numHeads;
  const KVH = cfg.numKvHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;

  const wte = w.get('model.embed_tokens.weight', [cfg.vocabSize, D]);
  let embeds = gather(b, wte, inputs.inputIds); // [B, T, D]
  if (ext.embed !== undefined) embeds = ext.embed(b, inputs.inputIds, embeds);
  const ctx = contextFor(parts, embeds, inputs.cache?.pastDim ?? inputs.prefixKeys ?? 0);
  const { dims } = ctx;

  const rope = ropeTables(ctx, positionsOrDefault(ctx, inputs));
  const maskFor = attentionMasks(ctx, inputs.attentionMask, H / KVH);
  const scale = 1 / Math.sqrt(hd);
  const linearOpts = { layout: 'out_in' } as const;

  let h = reshape(b, embeds, [-1, D], [dims.N, D]); // [N, D]
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}`;
    b.scope(p, () => {
      // attention
      const x = rmsNorm(ctx, `${p}.input_layernorm`, h); // [N, D]
      const q2 = linear(ctx, `${p}.self_attn.q_proj`, x, D, H * hd, { ...linearOpts, bias: cfg.qkvBias }); // [N, H·hd]
      const k2 = linear(ctx, `${p}.self_attn.k_proj`, x, D, KVH * hd, { ...linearOpts, bias: cfg.qkvBias }); // [N, KVH·hd]
      const v2 = linear(ctx, `${p}.self_attn.v_proj`, x, D, KVH * hd, { ...linearOpts, bias: cfg.qkvBias }); // [N, KVH·hd]
      const q = applyRope(ctx, transpose(b, splitHeads(ctx, q2, H, hd), [0, 2, 1, 3]), rope); // [B, H, T, hd]
      let k = applyRope(ctx, transpose(b, splitHeads(ctx, k2, KVH, hd), [0, 2, 1, 3]), rope); // [B, KVH, T, hd]
      let v = transpose(b, splitHeads(ctx, v2, KVH, hd), [0, 2, 1, 3]); // [B, KVH, T, hd]
      if (inputs.cache !== null) {
        const past = inputs.cache.past(i);
        k = concat(b, [past.k, k], 2); // [B, KVH, S, hd]
        v = concat(b, [past.v, v], 2); // [B, KVH, S, hd]
        inputs.cache.present(i, k, v);
      }
      if (ext.attentionKV !== undefined) ({ k, v } = ext.attentionKV(b, i, k, v));
      const attn = attend(ctx, q, k, v, maskFor(slidingWindowFor(cfg, i)), scale); // [N, H·hd]
      const o = linear(ctx, `${p}.self_attn.o_proj`, attn, H * hd, D, { ...linearOpts, bias: cfg.oBias }); // [N, D]
      h = add(b, h, o);

      // SiLU-gated MLP
      const y = rmsNorm(ctx, `${p}.post_attention_layernorm`, h); // [N, D]
      const gate = linear(ctx, `${p}.mlp.gate_proj`, y, D, I, { ...linearOpts, bias: cfg.mlpBias }); // [N, I]
      const up = linear(ctx, `${p}.mlp.up_proj`, y, D, I, { ...linearOpts, bias: cfg.mlpBias }); // [N, I]
      const act = b.scope(ACTIVATION_SCOPE, () => mul(b, activation(ctx, activationOf(cfg), gate), up)); // [N, I]
      const down = linear(ctx, `${p}.mlp.down_proj`, act, I, D, { ...linearOpts, bias: cfg.mlpBias }); // [N, D]
      h = add(b, h, down);
      if (ext.blockOutput !== undefined) h = ext.blockOutput(b, i, h);
    });
  }

  const hf = rmsNorm(ctx, 'model.norm', h); // [N, D]
  const logits = linear(ctx, 'lm_head', hf, D, cfg.vocabSize, {
    ...linearOpts,
    bias: false,
    ...(cfg.tieWordEmbeddings ? { weightName: 'model.embed_tokens.weight' } : {}),
  }); // [N, V]
  return { logits, ctx };
}
