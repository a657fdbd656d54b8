// mergeAdapter with IA3 and DoRA adapters: the written model directory gives the logits of the base with the
// adapter (as loadTrainedModel applies it), the method is reported, and prompt-learning adapters are refused.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { buildCausalLM } from '../models/causal-lm.js';
import type { TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { PeftError } from '../peft/errors.js';
import { loadTrainedModel } from '../peft/load.js';
import { makeLoraConfig } from '../peft/lora/config.js';
import { applyLora } from '../peft/lora/inject.js';
import {
  adapterPath,
  FIXTURES,
  fixtureBatch,
  loadBase,
  maskedRelMaxError,
  modelPath,
  withTempDir,
} from '../peft/testing.js';
import { mergeAdapter } from './merge-adapter.js';

afterAll(releaseAllSessions);

async function logits(graph: ReturnType<typeof buildCausalLM>): Promise<{ data: Float32Array; mask: BigInt64Array }> {
  const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
  const { labels: _l, ...inputs } = feeds;
  const out = await runGraph(graph, inputs, ['logits']);
  return { data: (out.logits as TensorData).data as Float32Array, mask: feeds.attention_mask.data as BigInt64Array };
}

async function mergedEqualsAdapter(model: string, adapterDir: string, method: string): Promise<void> {
  const lm = await loadTrainedModel(modelPath(model), adapterDir);
  const want = await logits(lm.build('logits'));
  await withTempDir(async (out) => {
    const r = await mergeAdapter(modelPath(model), adapterDir, out);
    expect(r.method).toBe(method);
    const m = await loadModelDir(out, { dtype: 'float32' });
    const got = await logits(buildCausalLM(m.config, m.weights, { mode: 'logits' }));
    expect(maskedRelMaxError(got.data, want.data, want.mask, m.config.vocabSize)).toBeLessThan(1e-4);
    const base = await logits(buildCausalLM(lm.config, (await loadBase(model)).weights, { mode: 'logits' }));
    expect(maskedRelMaxError(base.data, want.data, want.mask, m.config.vocabSize)).toBeGreaterThan(1e-3);
  });
}

describe('mergeAdapter', () => {
  it('merges the PEFT IA3 fixture adapter', async () => {
    await mergedEqualsAdapter('tiny-qwen2', adapterPath('tiny-qwen2-ia3'), 'ia3');
  });

  it('merges a DoRA adapter (GPT-2 Conv1D layout)', async () => {
    const base = await loadBase('tiny-gpt2');
    const applied = applyLora(base, makeLoraConfig({ r: 4, targetModules: ['c_attn', 'c_fc'], useDora: true }), {
      seed: 4,
    });
    let s = 11;
    for (const [k, t] of applied.params) {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        const u = s / 2 ** 32 - 0.5;
        d[i] = k.endsWith('lora_magnitude_vector') ? (d[i] as number) * (1 + 0.3 * u) : (d[i] as number) + 0.3 * u;
      }
    }
    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      await mergedEqualsAdapter('tiny-gpt2', dir, 'dora');
    });
  });

  it('refuses a prompt-tuning adapter: nothing to merge into the weights', async () => {
    await withTempDir(async (out) => {
      const err = await mergeAdapter(modelPath('tiny-qwen2'), adapterPath('tiny-qwen2-prompt'), out).catch((e) => e);
      expect(err).toBeInstanceOf(PeftError);
      expect((err as PeftError).message).toMatch(/cannot merge a PROMPT_TUNING adapter: it adds virtual tokens/);
    });
  });
});
