// Prefix tuning's layout against PEFT's get_prompt, written out here independently: a prompt_embeddings row
// viewed as [num_layers·2, kv_heads, head_dim], permuted so that layer l's past keys are entry 2l and its values
// 2l+1, handed to the base model as past_key_values with the attention mask prefixed by ones. The logits of the
// prefix-tuned graph must equal the base decode graph run on that past.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCausalLM } from '../../models/causal-lm.js';
import type { TensorData } from '../../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { FIXTURES, fixtureBatch, loadBase } from '../testing.js';
import { applyPrefixTuning, prefixDims } from './apply.js';
import { makePrefixTuningConfig } from './config.js';

afterAll(releaseAllSessions);

describe.each(['tiny-qwen2', 'tiny-gpt2'])('prefix tuning on %s', (model) => {
  it("keys/values enter attention as PEFT's past_key_values (1e-4 of the largest logit)", async () => {
    const base = await loadBase(model);
    const cfg = base.config;
    const n = 3;
    const applied = applyPrefixTuning(base, makePrefixTuningConfig({ numVirtualTokens: n }), { seed: 5 });
    const rows = applied.params.get('prefix_encoder.default.embedding.weight') as TensorData;
    const { feeds, batch, seq } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const { labels: _l, ...inputs } = feeds;
    const want = (await runGraph(applied.buildGraph('logits'), inputs, ['logits'])).logits?.data as Float32Array;

    // PEFT: view(B, n, L·2, H, hd).permute(2, 0, 3, 1, 4) → per entry e: [B, H, n, hd]
    const { numAttentionHeads: H, tokenDim } = prefixDims(cfg);
    const hd = tokenDim / H;
    const L2 = cfg.numLayers * 2;
    const entry = (e: number): TensorData => {
      const data = new Float32Array(batch * H * n * hd);
      for (let b = 0; b < batch; b++)
        for (let h = 0; h < H; h++)
          for (let t = 0; t < n; t++)
            for (let d = 0; d < hd; d++)
              data[((b * H + h) * n + t) * hd + d] = (rows.data as Float32Array)[
                t * L2 * H * hd + (e * H + h) * hd + d
              ] as number;
      return { dtype: 'float32', dims: [batch, H, n, hd], data };
    };
    const past: Record<string, TensorData> = {};
    for (let l = 0; l < cfg.numLayers; l++) {
      past[`past_key_values.${l}.key`] = entry(2 * l);
      past[`past_key_values.${l}.value`] = entry(2 * l + 1);
    }
    const m = feeds.attention_mask.data as BigInt64Array;
    const mask = new BigInt64Array(batch * (n + seq));
    const pos = new BigInt64Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      mask.fill(1n, b * (n + seq), b * (n + seq) + n);
      mask.set(m.subarray(b * seq, (b + 1) * seq), b * (n + seq) + n);
      for (let t = 0; t < seq; t++) pos[b * seq + t] = BigInt(n + t); // transformers: cache_position = past..past+T-1
    }
    const decode = buildCausalLM(cfg, base.weights, { mode: 'decode' });
    const got = (
      await runGraph(
        decode,
        {
          input_ids: feeds.input_ids,
          attention_mask: { dtype: 'int64', dims: [batch, n + seq], data: mask },
          position_ids: { dtype: 'int64', dims: [batch, seq], data: pos },
          ...past,
        },
        ['logits'],
      )
    ).logits?.data as Float32Array;
    let worst = 0;
    let scale = 0;
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < seq; t++) {
        if (m[b * seq + t] === 0n) continue;
        for (let v = 0; v < cfg.vocabSize; v++) {
          const i = (b * seq + t) * cfg.vocabSize + v;
          worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
          scale = Math.max(scale, Math.abs(want[i] as number));
        }
      }
    expect(worst / scale).toBeLessThan(1e-4);
  });
});
