// GPT2LMHeadModel: learned token and position embeddings, pre-norm blocks of LayerNorm → attention (one fused
// c_attn projection split into q, k, v) → residual, LayerNorm → gelu_new MLP → residual, ln_f and a head tied
// to wte. Its linears are Conv1D modules storing weights as [in, out], so they multiply x·W as stored.

import type { Value } from '../onnx/ir.js';
import { add, concat, gather, reshape, slice, transpose } from '../onnx/ops.js';
import { attend, attentionMasks } from './attention.js';
import { activationOf } from './config.js';
import { contextFor, type ModelParts } from './context.js';
import { type DecoderInputs, type DecoderOutput, positionsOrDefault } from './decoder.js';
import { ModelError } from './errors.js';
import { ACTIVATION_SCOPE, activation, layerNorm, linear, splitHeads } from './layers.js';

export function gpt2Forward(parts: ModelParts, inputs: DecoderInputs): DecoderOutput {
  const { b, cfg, w, ext } = parts;
  if (cfg.family !== 'gpt2') throw new ModelError('unsupported', `gpt2Forward cannot build ${cfg.architecture}`);
  const D = cfg.hiddenSize;
  const H = cfg.numHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const conv1d = { layout: 'in_out', bias: true } as const;

  const wte = w.get('transformer.wte.weight', [cfg.vocabSize, D]);
  const wpe = w.get('transformer.wpe.weight', [cfg.maxPositionEmbeddings, D]);
  let tokens = gather(b, wte, inputs.inputIds); // [B, T, D]
  if (ext.embed !== undefined) tokens = ext.embed(b, inputs.inputIds, tokens);
  const ctx = contextFor(parts, tokens, inputs.cache?.pastDim ?? inputs.prefixKeys ?? 0);
  const { dims } = ctx;
  const positions = gather(b, wpe, positionsOrDefault(ctx, inputs)); // [B or 1, T, D]
  const embeds = add(b, tokens, positions); // [B, T, D]

  const maskFor = attentionMasks(ctx, inputs.attentionMask, 1);
  let h = reshape(b, embeds, [-1, D], [dims.N, D]); // [N, D]
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `transformer.h.${i}`;
    b.scope(p, () => {
      const x = layerNorm(ctx, `${p}.ln_1`, h); // [N, D]
      const qkv = linear(ctx, `${p}.attn.c_attn`, x, D, 3 * D, conv1d); // [N, 3D]
      const heads = (j: number): Value => {
        const part = slice(b, qkv, [j * D], [(j + 1) * D], [1]); // [N, D]
        return transpose(b, splitHeads(ctx, part, H, hd), [0, 2, 1, 3]); // [B, H, T, hd]
      };
      const q = heads(0);
      let k = heads(1);
      let v = heads(2);
      if (inputs.cache !== null) {
        const past = inputs.cache.past(i);
        k = concat(b, [past.k, k], 2); // [B, H, S, hd]
        v = concat(b, [past.v, v], 2); // [B, H, S, hd]
        inputs.cache.present(i, k, v);
      }
      if (ext.attentionKV !== undefined) ({ k, v } = ext.attentionKV(b, i, k, v));
      let scale = cfg.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1;
      if (cfg.scaleAttnByInverseLayerIdx) scale /= i + 1;
      const attn = attend(ctx, q, k, v, maskFor(null), scale); // [N, D]
      h = add(b, h, linear(ctx, `${p}.attn.c_proj`, attn, D, D, conv1d)); // [N, D]

      const y = layerNorm(ctx, `${p}.ln_2`, h); // [N, D]
      const pre = linear(ctx, `${p}.mlp.c_fc`, y, D, I, conv1d); // [N, I]
      const fc = b.scope(ACTIVATION_SCOPE, () => activation(ctx, activationOf(cfg), pre)); // [N, I]
      h = add(b, h, linear(ctx, `${p}.mlp.c_proj`, fc, I, D, conv1d)); // [N, D]
      if (ext.blockOutput !== undefined) h = ext.blockOutput(b, i, h);
    });
  }

  const hf = layerNorm(ctx, 'transformer.ln_f', h); // [N, D]
  const logits = linear(ctx, 'lm_head', hf, D, cfg.vocabSize, {
    layout: 'out_in',
    bias: false,
    ...(cfg.tieWordEmbeddings ? { weightName: 'transformer.wte.weight' } : {}),
  }); // [N, V]
  return { logits, ctx };
}
