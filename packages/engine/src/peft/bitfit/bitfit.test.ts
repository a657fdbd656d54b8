import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { PeftError } from '../errors.js';
import { FIXTURES, fixtureBatch, loadBase, modelPath, withTempDir } from '../testing.js';
import { applyBitfit } from './apply.js';
import { parseBitfitConfig } from './config.js';
import { isBitfitDir, loadBitfitModel, withBitfit } from './state.js';

afterAll(releaseAllSessions);

describe('BitFit', () => {
  it('trains every bias GPT-2 has (attention, MLP, LayerNorm), without weight decay', async () => {
    const gpt2 = await loadBase('tiny-gpt2');
    const a = applyBitfit(gpt2, { baseModelNameOrPath: null }, { seed: 0 });
    const names = [...a.params.keys()];
    expect(names).toContain('transformer.h.0.ln_1.bias');
    expect(names).toContain('transformer.h.1.attn.c_attn.bias');
    expect(names).toContain('transformer.ln_f.bias');
    expect(names.every((n) => n.endsWith('.bias') && a.noDecay.has(n))).toBe(true);
    expect(names.some((n) => n.endsWith('.attn.bias'))).toBe(false); // GPT-2's causal-mask buffer is no parameter
    // params are copies: training them leaves the base untouched
    expect(a.params.get('transformer.ln_f.bias')?.data).not.toBe(gpt2.weights.get('transformer.ln_f.bias')?.data);
  });

  it('saves biases + tunemesh_config.json, and loadBitfitModel evaluates with them', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const a = applyBitfit(qwen, { baseModelNameOrPath: null }, { seed: 0 });
    for (const t of a.params.values()) (t.data as Float32Array).fill(0.5);
    await withTempDir(async (dir) => {
      await a.save(dir, a.params);
      expect(await isBitfitDir(dir)).toBe(true);
      const cfg = JSON.parse(await readFile(join(dir, 'tunemesh_config.json'), 'utf8'));
      expect(cfg.method).toBe('bitfit');
      expect(cfg.base_model_name_or_path).toBe(modelPath('tiny-qwen2'));
      expect(cfg.tensors).toHaveLength(6);
      const lm = await loadBitfitModel(modelPath('tiny-qwen2'), dir);
      expect(lm.weights.get('model.layers.1.self_attn.v_proj.bias')?.data[3]).toBe(0.5);
      const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
      const out = await runGraph(lm.build('loss'), feeds, ['loss']);
      const expected = await runGraph(a.buildGraph('loss', { training: false }), feeds, ['loss']);
      expect(out.loss?.data[0]).toBe(expected.loss?.data[0]);
    });
  });

  it('refuses biases the base does not have and unknown config fields', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const extra = new Map<string, TensorData>([
      ['model.layers.0.self_attn.o_proj.bias', { dtype: 'float32', dims: [64], data: new Float32Array(64) }],
    ]);
    expect(() => withBitfit(qwen.weights, extra, 'dir')).toThrow(PeftError);
    expect(() => applyBitfit(qwen, { baseModelNameOrPath: null }, { seed: 0, init: extra })).toThrow(/not a bias/);
    expect(() => parseBitfitConfig({ method: 'lora' }, 'x.json')).toThrow(/expected "bitfit"/);
    expect(() => parseBitfitConfig({ r: 4 }, 'x.json')).toThrow(/unknown BitFit field 'r'/);
  });
});
