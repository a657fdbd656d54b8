// LoRA adapters in PEFT's format: the loss with each fixture adapter matches PEFT's, and adapters that do not
// fit the model fail by name.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import type { LoraAdapterConfig } from '../io/peft-config.js';
import type { TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { buildCausalLM } from './causal-lm.js';
import { ModelError } from './errors.js';
import { loadCausalLM } from './load.js';
import { loraExtension } from './lora.js';
import { FIXTURES, fixtureBatch, readJson } from './testing.js';

afterAll(releaseAllSessions);

const CASES: [adapter: string, model: string][] = [
  ['tiny-qwen2-lora', 'tiny-qwen2'],
  ['tiny-qwen2-lora-zeroB', 'tiny-qwen2'],
  ['tiny-gpt2-lora', 'tiny-gpt2'],
];

describe.each(CASES)('%s on %s', (adapter, model) => {
  it('loss within 1e-5 relative of PEFT', async () => {
    const lm = await loadCausalLM(join(FIXTURES, 'models', model), { adapterDir: join(FIXTURES, 'adapters', adapter) });
    const data = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const expected = await readJson<{ loss: number }>(join(FIXTURES, 'expected', `${adapter}.loss.json`));
    const out = await runGraph(lm.build('loss'), data.feeds);
    const loss = (out.loss!.data as Float32Array)[0]!;
    const rel = Math.abs(loss - expected.loss) / expected.loss;
    console.log(`${adapter}: loss ${loss} vs ${expected.loss}, relative error ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-5);
  });
});

describe('LoRA adapter checks', () => {
  it('rejects an adapter whose tensors do not fit the model', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', 'tiny-llama'));
    const ad = await loadPeftAdapter(join(FIXTURES, 'adapters', 'tiny-qwen2-lora'));
    const cfg = ad.config as LoraAdapterConfig;
    // Same module names, but give q_proj's A a wrong input width.
    const tensors = new Map<string, TensorData>(ad.tensors);
    const key = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    tensors.set(key, { dtype: 'float32', dims: [4, 32], data: new Float32Array(128) });
    expect(() => buildCausalLM(config, weights, { mode: 'loss', extensions: loraExtension(cfg, tensors) })).toThrow(
      /q_proj.*A \[4, 32\]/,
    );
    // A tensor for a module the config does not target is reported, not ignored.
    const onlyQ: LoraAdapterConfig = { ...cfg, targetModules: { kind: 'list', names: ['q_proj'] } };
    const err = (() => {
      try {
        buildCausalLM(config, weights, { mode: 'loss', extensions: loraExtension(onlyQ, ad.tensors) });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe('adapter_mismatch');
    expect((err as ModelError).message).toMatch(/match no targeted module/);
  });

  it('refuses methods it does not implement instead of ignoring them', async () => {
    await expect(
      loadCausalLM(join(FIXTURES, 'models', 'tiny-qwen2'), {
        adapterDir: join(FIXTURES, 'adapters', 'tiny-qwen2-ia3'),
      }),
    ).rejects.toThrow(/IA3 adapters are not supported/);
    const ad = await loadPeftAdapter(join(FIXTURES, 'adapters', 'tiny-qwen2-lora'));
    expect(() => loraExtension({ ...(ad.config as LoraAdapterConfig), useDora: true }, ad.tensors)).toThrow(/DoRA/);
  });
});
