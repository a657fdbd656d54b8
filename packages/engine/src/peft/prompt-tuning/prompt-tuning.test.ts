// Prompt tuning against PEFT: the fixture adapter's loss and gradient (PEFT + PyTorch), the three inits, the
// saved form, and the bad inputs.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../autodiff/index.js';
import { loadSafetensors } from '../../io/safetensors-read.js';
import { CAUSAL_LM_NAMES } from '../../models/causal-lm.js';
import type { TensorData } from '../../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { PeftError } from '../errors.js';
import { adapterPath, FIXTURES, fixtureBatch, loadBase, readJson, withTempDir } from '../testing.js';
import { loadPromptLearning } from '../virtual-tokens.js';
import { applyPromptTuning, embeddingRows, repeatToLength, resolvePromptTuningInit } from './apply.js';
import { makePromptTuningConfig, parsePromptTuningConfig } from './config.js';

afterAll(releaseAllSessions);

describe('prompt tuning', () => {
  it('loss and gradient of the fixture adapter match PEFT (1e-5 loss, 1e-4 relative L2)', async () => {
    const base = await loadBase('tiny-qwen2');
    const a = await loadPromptLearning(adapterPath('tiny-qwen2-prompt'), 'PROMPT_TUNING');
    const json = JSON.parse(await readFile(join(adapterPath('tiny-qwen2-prompt'), 'adapter_config.json'), 'utf8'));
    const applied = applyPromptTuning(base, parsePromptTuningConfig(json, 'fixture'), { seed: 1, init: a.tensors });
    const { loss: refLoss } = await readJson<{ loss: number }>(
      join(FIXTURES, 'expected', 'tiny-qwen2-prompt.loss.json'),
    );
    const expected = await loadSafetensors(join(FIXTURES, 'expected', 'tiny-qwen2-prompt.grads.safetensors'));
    expect([...expected.keys()]).toEqual(['prompt_embeddings']);
    const { graph, gradients } = buildGradientGraph(applied.buildGraph('loss'), {
      loss: CAUSAL_LM_NAMES.loss,
      wrt: ['prompt_embeddings'],
    });
    const data = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const out = await runGraph(graph, { ...data.feeds, ...Object.fromEntries(applied.params) }, [
      'loss',
      'loss_tokens',
      gradients.prompt_embeddings as string,
    ]);
    const loss = (out.loss as TensorData).data[0] as number;
    expect(Math.abs(loss - refLoss) / refLoss).toBeLessThan(1e-5);
    const g = out[gradients.prompt_embeddings as string]?.data as Float32Array;
    const r = expected.get('prompt_embeddings')?.data as Float32Array;
    let d = 0;
    let n = 0;
    for (let i = 0; i < r.length; i++) {
      d += ((g[i] as number) - (r[i] as number)) ** 2;
      n += (r[i] as number) ** 2;
    }
    expect(Math.sqrt(d / n)).toBeLessThan(1e-4);
  });

  it('inits: RANDOM ~ N(0, 1), SAMPLE_VOCAB rows of the vocabulary, TEXT the text ids repeated and cut', async () => {
    const base = await loadBase('tiny-qwen2');
    const rand = applyPromptTuning(base, makePromptTuningConfig({ numVirtualTokens: 16 }), { seed: 3 });
    const x = rand.params.get('prompt_embeddings')?.data as Float32Array;
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(variance - 1)).toBeLessThan(0.15);

    const sv = applyPromptTuning(base, makePromptTuningConfig({ numVirtualTokens: 4, init: 'SAMPLE_VOCAB' }), {
      seed: 3,
    });
    const rows = sv.params.get('prompt_embeddings') as TensorData;
    const wte = base.weights.get('model.embed_tokens.weight') as TensorData;
    const D = wte.dims[1] as number;
    for (let i = 0; i < 4; i++) {
      const row = (rows.data as Float32Array).subarray(i * D, (i + 1) * D);
      let found = false;
      for (let v = 0; v < (wte.dims[0] as number) && !found; v++)
        found = row.every((val, j) => val === Number(wte.data[v * D + j]));
      expect(found).toBe(true);
    }

    expect(repeatToLength([5, 6, 7], 8)).toEqual([5, 6, 7, 5, 6, 7, 5, 6]);
    expect(repeatToLength([5, 6, 7], 2)).toEqual([5, 6]);
    const text = await resolvePromptTuningInit(
      makePromptTuningConfig({ numVirtualTokens: 6, init: 'TEXT', initText: 'hi there' }),
      base.dir as string,
    );
    expect(text.initTokenIds?.length).toBeGreaterThan(0);
    const t = applyPromptTuning(base, text, { seed: 3 });
    expect(t.params.get('prompt_embeddings')?.data).toEqual(
      embeddingRows(base, repeatToLength(text.initTokenIds ?? [], 6)).data,
    );
  });

  it('saves PEFT files: adapter_config.json field names and prompt_embeddings', async () => {
    const base = await loadBase('tiny-qwen2');
    const applied = applyPromptTuning(base, makePromptTuningConfig({ numVirtualTokens: 5 }), { seed: 2 });
    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      const json = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
      expect(json).toMatchObject({
        peft_type: 'PROMPT_TUNING',
        task_type: 'CAUSAL_LM',
        num_virtual_tokens: 5,
        token_dim: 64,
        num_layers: 2,
        num_attention_heads: 4,
        num_transformer_submodules: 1,
        prompt_tuning_init: 'RANDOM',
        inference_mode: true,
      });
      const w = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
      expect([...w.keys()]).toEqual(['prompt_embeddings']);
      expect(w.get('prompt_embeddings')?.dims).toEqual([5, 64]);
    });
  });

  it('refuses TEXT without text, a P_TUNING file, and initial prompts of another size', async () => {
    expect(() => makePromptTuningConfig({ init: 'TEXT' })).toThrow(/prompt_tuning_init_text/);
    expect(() => parsePromptTuningConfig({ peft_type: 'P_TUNING', num_virtual_tokens: 4 }, 'x.json')).toThrow(
      /P_TUNING.*not PROMPT_TUNING/,
    );
    const qwen = await loadBase('tiny-qwen2');
    const a = await loadPromptLearning(adapterPath('tiny-qwen2-prompt'));
    let err: unknown;
    try {
      applyPromptTuning(qwen, makePromptTuningConfig({ numVirtualTokens: 4 }), { seed: 1, init: a.tensors });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PeftError);
    expect((err as Error).message).toMatch(/prompt_embeddings.*\[8, 64\].*need \[4, 64\]/);
  });
});
