// Merging adapters into their base: merged logits equal base+adapter logits, unmerge restores the base,
// merging twice is tracked, adapters that do not fit and merges that overflow are refused, dtypes survive.

import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter, savePeftAdapter } from '../io/peft-adapter.js';
import { readSafetensorsHeader } from '../io/safetensors-read.js';
import type { buildCausalLM } from '../models/causal-lm.js';
import { loadCausalLM } from '../models/load.js';
import type { Graph, TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { PeftError } from '../peft/errors.js';
import { loadTrainedModel } from '../peft/load.js';
import { makeLoraConfig } from '../peft/lora/config.js';
import { applyLora } from '../peft/lora/inject.js';
import { LoraMerge, mergeLora, unmergeLora } from '../peft/lora/merge.js';
import {
  adapterPath,
  FIXTURES,
  fixtureBatch,
  loadBase,
  maskedRelMaxError,
  modelPath,
  withTempDir,
} from '../peft/testing.js';
import { MERGE_RECORD_FILE, mergeAdapter } from './merge-adapter.js';

afterAll(releaseAllSessions);

const chat = () => fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));

async function logitsOf(build: () => Graph | Promise<Graph>): Promise<Float32Array> {
  const { feeds } = await chat();
  const { labels: _labels, ...inputs } = feeds;
  const out = await runGraph(await build(), inputs, ['logits']);
  return out.logits?.data as Float32Array;
}

function maxAbsDiff(a: TensorData, b: TensorData): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

describe.each([
  ['tiny-qwen2', 'tiny-qwen2-lora'],
  ['tiny-gpt2', 'tiny-gpt2-lora'],
])('merging %s + %s', (model, adapter) => {
  it('writes a model directory whose logits equal the base with the adapter (1e-4 of max)', async () => {
    const withAdapter = await loadCausalLM(modelPath(model), { adapterDir: adapterPath(adapter) });
    const expected = await logitsOf(() => withAdapter.build('logits'));
    await withTempDir(async (out) => {
      const r = await mergeAdapter(modelPath(model), adapterPath(adapter), out);
      expect(r.method).toBe('lora');
      expect(r.changed).toBe(model === 'tiny-gpt2' ? 2 * 4 : 2 * 7);
      const merged = await loadCausalLM(out);
      const got = await logitsOf(() => merged.build('logits'));
      const { feeds } = await chat();
      expect(maskedRelMaxError(got, expected, feeds.attention_mask.data as BigInt64Array, 320)).toBeLessThan(1e-4);
      // and the adapter changed them: the test could fail
      const base = await loadCausalLM(modelPath(model));
      const baseLogits = await logitsOf(() => base.build('logits'));
      expect(maskedRelMaxError(baseLogits, expected, feeds.attention_mask.data as BigInt64Array, 320)).toBeGreaterThan(
        1e-3,
      );
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
        expect(await readFile(join(out, f))).toEqual(await readFile(join(modelPath(model), f)));
    });
  });

  it('unmerge restores the base (1e-6) and merging an already merged adapter does nothing', async () => {
    const base = await loadBase(model);
    const lora = await loadPeftAdapter(adapterPath(adapter));
    const m = new LoraMerge(base, lora);
    m.merge();
    const once = new Map(m.weights);
    m.merge(); // PEFT: "Already merged. Nothing to do."
    expect(m.weights).toEqual(once);
    let changed = 0;
    for (const [k, t] of once) if (maxAbsDiff(t, base.weights.get(k) as TensorData) > 0) changed++;
    expect(changed).toBeGreaterThan(0);
    m.unmerge();
    expect(m.merged).toBe(false);
    const worst = Math.max(...[...m.weights].map(([k, t]) => maxAbsDiff(t, base.weights.get(k) as TensorData)));
    expect(worst).toBeLessThan(1e-6);
    expect(unmergeLora({ ...base, weights: mergeLora(base, lora) }, lora).size).toBe(base.weights.size);
  });
});

describe.each([
  ['tiny-llama', { r: 2, bias: 'all', modulesToSave: ['lm_head'] }, 2 * 2 + 1], // q, v × 2 layers; lm_head
  ['tiny-qwen2', { r: 2, bias: 'all' }, 2 * 2 + 2 * 3], // q, v × 2 layers; q/k/v biases × 2 layers
  ['tiny-gpt2', { r: 2, bias: 'lora_only' }, 2 * 2], // c_attn weight and bias × 2 layers
] as const)('merging %s with trained biases / modules_to_save', (model, settings, changed) => {
  it('puts them in place of the base tensors: merged logits equal the adapter loaded for evaluation', async () => {
    const base = await loadBase(model);
    const a = applyLora(base, makeLoraConfig(settings), { seed: 5 });
    for (const t of a.params.values()) {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) + 0.02 * Math.cos(i);
    }
    await withTempDir(async (dir) => {
      await a.save(join(dir, 'adapter'), a.params);
      const r = await mergeAdapter(modelPath(model), join(dir, 'adapter'), join(dir, 'merged'));
      expect(r.changed).toBe(changed);
      const expected = await logitsOf(async () =>
        (await loadTrainedModel(modelPath(model), join(dir, 'adapter'))).build('logits'),
      );
      const got = await logitsOf(async () => (await loadCausalLM(join(dir, 'merged'))).build('logits'));
      const base0 = await logitsOf(async () => (await loadCausalLM(modelPath(model))).build('logits'));
      const { feeds } = await chat();
      const mask = feeds.attention_mask.data as BigInt64Array;
      expect(maskedRelMaxError(got, expected, mask, 320)).toBeLessThan(1e-4);
      expect(maskedRelMaxError(base0, expected, mask, 320)).toBeGreaterThan(1e-4);
    });
  });
});

describe('merge refusals and dtypes', () => {
  it('refuses an adapter for another model (module names) and one with the wrong shapes', async () => {
    const err = await mergeAdapter(modelPath('tiny-qwen2'), adapterPath('tiny-gpt2-lora'), '/tmp/never-written').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PeftError);
    expect((err as PeftError).code).toBe('adapter-mismatch');
    expect((err as PeftError).message).toMatch(/transformer\.h\.0\.attn\.c_attn.*not a linear module/);

    const qwen = await loadBase('tiny-qwen2');
    const lora = await loadPeftAdapter(adapterPath('tiny-qwen2-lora'));
    const key = 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight';
    const tensors = new Map(lora.tensors);
    tensors.set(key, { dtype: 'float32', dims: [4, 64], data: new Float32Array(256) }); // down_proj takes 128
    expect(() => mergeLora(qwen, { config: lora.config, tensors })).toThrow(/down_proj.*\[in=128, out=64\]/);
  });

  it('refuses a merge that would make weights non-finite', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const lora = await loadPeftAdapter(adapterPath('tiny-qwen2-lora'));
    const tensors = new Map(lora.tensors);
    const key = 'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight';
    // finite in float32 on their own; their product (4·1e40) is not
    tensors.set(key, { dtype: 'float32', dims: [64, 4], data: new Float32Array(64 * 4).fill(1e20) });
    tensors.set(key.replace('lora_B', 'lora_A'), {
      dtype: 'float32',
      dims: [4, 64],
      data: new Float32Array(4 * 64).fill(1e20),
    });
    await withTempDir(async (dir) => {
      await savePeftAdapter(join(dir, 'bad'), { config: lora.config, tensors });
      const err = await mergeAdapter(modelPath('tiny-qwen2'), join(dir, 'bad'), join(dir, 'out')).catch(
        (e: unknown) => e,
      );
      expect((err as PeftError).code).toBe('non-finite');
      expect((err as PeftError).message).toContain('model.layers.1.self_attn.q_proj.weight');
    });
    expect(qwen.weights.size).toBeGreaterThan(0);
  });

  it('writes a bf16 base back in bf16, equal to the float32 merge rounded to bf16', async () => {
    await withTempDir(async (dir) => {
      await mergeAdapter(modelPath('tiny-qwen2-bf16'), adapterPath('tiny-qwen2-lora'), join(dir, 'bf16'));
      const header = await readSafetensorsHeader(join(dir, 'bf16', 'model.safetensors'));
      const src = await readSafetensorsHeader(join(modelPath('tiny-qwen2-bf16'), 'model.safetensors'));
      expect(header.tensors.map((t) => [t.name, t.dtype]).sort()).toEqual(
        src.tensors.map((t) => [t.name, t.dtype]).sort(),
      );
      expect(new Set(header.tensors.map((t) => t.dtype))).toEqual(new Set(['BF16']));
      // unchanged tensors are bit-identical; merged ones are the float32 merge of the same base, rounded
      const merged = (await loadModelDir(join(dir, 'bf16'), { dtype: 'keep' })).weights;
      const base = (await loadModelDir(modelPath('tiny-qwen2-bf16'), { dtype: 'keep' })).weights;
      expect(merged.get('model.embed_tokens.weight')?.data).toEqual(base.get('model.embed_tokens.weight')?.data);
      const f32 = await loadModelDir(join(dir, 'bf16'), { dtype: 'float32' });
      const q = f32.weights.get('model.layers.0.self_attn.q_proj.weight') as TensorData;
      const b32 = (await loadModelDir(modelPath('tiny-qwen2-bf16'), { dtype: 'float32' })).weights;
      const expected = mergeLora(
        { config: f32.config, weights: b32 },
        await loadPeftAdapter(adapterPath('tiny-qwen2-lora')),
      ).get('model.layers.0.self_attn.q_proj.weight') as TensorData;
      // bf16 keeps 8 bits of mantissa: relative rounding ≤ 2^-8
      for (let i = 0; i < q.data.length; i++) {
        const e = Number(expected.data[i]);
        expect(Math.abs(Number(q.data[i]) - e)).toBeLessThanOrEqual(Math.abs(e) * 2 ** -8 + 1e-30);
      }
    });
  });

  it('records the merge and refuses to merge the same adapter into the merged model again', async () => {
    await withTempDir(async (dir) => {
      await mergeAdapter(modelPath('tiny-qwen2'), adapterPath('tiny-qwen2-lora'), join(dir, 'm1'));
      const record = JSON.parse(await readFile(join(dir, 'm1', MERGE_RECORD_FILE), 'utf8'));
      expect(record.merged).toHaveLength(1);
      const err = await mergeAdapter(join(dir, 'm1'), adapterPath('tiny-qwen2-lora'), join(dir, 'm2')).catch(
        (e: unknown) => e,
      );
      expect((err as PeftError).code).toBe('already-merged');
      // a different adapter on top is allowed and recorded
      await mergeAdapter(join(dir, 'm1'), adapterPath('tiny-qwen2-lora-zeroB'), join(dir, 'm2'));
      expect(JSON.parse(await readFile(join(dir, 'm2', MERGE_RECORD_FILE), 'utf8')).merged).toHaveLength(2);
      await expect(
        mergeAdapter(modelPath('tiny-qwen2'), adapterPath('tiny-qwen2-lora'), modelPath('tiny-qwen2')),
      ).rejects.toThrow(/is the base model directory/);
      await cp(adapterPath('tiny-qwen2-prompt'), join(dir, 'prompt'), { recursive: true });
      await expect(mergeAdapter(modelPath('tiny-qwen2'), join(dir, 'prompt'), join(dir, 'm3'))).rejects.toThrow(
        /cannot merge a PROMPT_TUNING adapter/,
      );
      await expect(mergeAdapter(modelPath('tiny-qwen2'), dir, join(dir, 'm4'))).rejects.toThrow(
        /neither a PEFT adapter/,
      );
    });
  });
});
