// LoRA as a training method: PEFT's initialisation, target matching and its errors, the fixtures' losses
// through the method's own graph, and PEFT-format save/load round trips.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../autodiff/sweep.js';
import { loadPeftAdapter } from '../../io/peft-adapter.js';
import { CAUSAL_LM_NAMES } from '../../models/causal-lm.js';
import type { TensorData } from '../../onnx/ir.js';
import { createSession, releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { PeftError } from '../errors.js';
import { loadTrainedModel } from '../load.js';
import { adapterPath, FIXTURES, fixtureBatch, loadBase, modelPath, readJson, withTempDir } from '../testing.js';
import { asLoraConfig, makeLoraConfig, parseLoraConfig } from './config.js';
import { kaimingUniformA } from './init.js';
import { applyLora } from './inject.js';

afterAll(releaseAllSessions);

const chat = () => fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));

describe('LoRA initialisation', () => {
  it('draws A uniformly within 1/sqrt(in) (kaiming_uniform_, a=√5) and sets B to zero, reproducibly', async () => {
    const model = await loadBase('tiny-qwen2');
    const a = applyLora(model, makeLoraConfig({ r: 8, targetModules: ['q_proj', 'v_proj'] }), { seed: 3 });
    const b = applyLora(model, makeLoraConfig({ r: 8, targetModules: ['q_proj', 'v_proj'] }), { seed: 3 });
    const keys = [...a.params.keys()];
    expect(keys).toHaveLength(8); // 2 layers × 2 modules × (A, B)
    for (const k of keys) {
      const t = a.params.get(k)!.data as Float32Array;
      expect(b.params.get(k)!.data).toEqual(t);
      if (k.endsWith('lora_B.weight')) expect(t.every((v) => v === 0)).toBe(true);
      else {
        const bound = 1 / Math.sqrt(64);
        expect(Math.max(...t.map(Math.abs))).toBeLessThanOrEqual(bound);
        // a uniform draw fills its range: the largest magnitude of 512 draws is close to the bound
        expect(Math.max(...t.map(Math.abs))).toBeGreaterThan(0.95 * bound);
      }
    }
    const c = applyLora(model, makeLoraConfig({ r: 8, targetModules: ['q_proj', 'v_proj'] }), { seed: 4 });
    expect(c.params.get(keys[0]!)!.data).not.toEqual(a.params.get(keys[0]!)!.data);
  });

  it('kaimingUniformA has the variance of U(-1/√in, 1/√in)', () => {
    let s = 1;
    const rand = () => {
      s = (s * 48271) % 2147483647;
      return s / 2147483647;
    };
    const t = kaimingUniformA(16, 256, rand).data as Float32Array;
    const variance = t.reduce((a, v) => a + v * v, 0) / t.length;
    expect(variance).toBeCloseTo(1 / (3 * 256), 4);
  });
});

describe('LoRA targets and bad input', () => {
  it('resolves PEFT defaults, "all-linear" (no LM head) and regular expressions', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const def = applyLora(qwen, makeLoraConfig(), { seed: 0 });
    expect((def.config as { targetModules: unknown }).targetModules).toEqual({
      kind: 'list',
      names: ['q_proj', 'v_proj'],
    });
    const all = applyLora(qwen, makeLoraConfig({ targetModules: 'all-linear' }), { seed: 0 });
    expect(all.params.size).toBe(2 * 7 * 2);
    expect([...all.params.keys()].some((k) => k.includes('lm_head'))).toBe(false);
    const re = applyLora(qwen, makeLoraConfig({ targetModules: '.*layers\\.1\\.mlp\\.(up|down)_proj' }), { seed: 0 });
    expect([...re.params.keys()]).toEqual(
      ['up_proj.lora_A', 'up_proj.lora_B', 'down_proj.lora_A', 'down_proj.lora_B'].map(
        (s) => `base_model.model.model.layers.1.mlp.${s}.weight`,
      ),
    );
    const gpt2 = await loadBase('tiny-gpt2');
    const g = applyLora(gpt2, makeLoraConfig(), { seed: 0 });
    expect((g.config as { fanInFanOut: boolean }).fanInFanOut).toBe(true);
    expect([...g.params.keys()].every((k) => k.includes('.attn.c_attn.'))).toBe(true);
  });

  it('a target module the model does not have is refused, listing the linear modules', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const err = (() => {
      try {
        applyLora(qwen, makeLoraConfig({ targetModules: ['q_proj', 'c_attn'] }), { seed: 0 });
      } catch (e) {
        return e as PeftError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(PeftError);
    expect(err?.code).toBe('unknown-target');
    expect(err?.message).toContain("'c_attn'");
    expect(err?.message).toContain('self_attn.q_proj [64 → 64]');
    expect(err?.message).toContain('mlp.down_proj [128 → 64]');
    expect(() => applyLora(qwen, makeLoraConfig({ targetModules: 'nothing\\.here' }), { seed: 0 })).toThrow(
      /match no linear module.*q_proj/,
    );
  });

  it('r ≤ 0, lora_dropout outside [0, 1), alpha ≤ 0 and a non-LORA config are refused', () => {
    expect(() => makeLoraConfig({ r: 0 })).toThrow(/r must be a positive integer, got 0/);
    expect(() => makeLoraConfig({ r: -4 })).toThrow(PeftError);
    expect(() => makeLoraConfig({ r: 2.5 })).toThrow(/positive integer/);
    expect(() => makeLoraConfig({ loraDropout: 1 })).toThrow(/lora_dropout/);
    expect(() => makeLoraConfig({ loraAlpha: 0 })).toThrow(/lora_alpha/);
    expect(() => parseLoraConfig({ peft_type: 'LORA', r: 0 }, 'cfg.json')).toThrow(/cfg\.json.*r/);
    expect(() => parseLoraConfig({ peft_type: 'IA3', target_modules: ['q_proj'] }, 'cfg.json')).toThrow(/IA3/);
  });

  it('an initial adapter that does not fit the config or the model is refused', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const zeroB = await loadPeftAdapter(adapterPath('tiny-qwen2-lora-zeroB')); // r=8 on q_proj, v_proj
    const cfg = asLoraConfig(zeroB.config, 'x');
    expect(() =>
      applyLora(qwen, { ...cfg, targetModules: { kind: 'all-linear' } }, { seed: 0, init: zeroB.tensors }),
    ).toThrow(/no lora_A\/lora_B for target module 'model.layers.0.self_attn.k_proj'/);
    expect(() =>
      applyLora(qwen, { ...cfg, targetModules: { kind: 'list', names: ['q_proj'] } }, { seed: 0, init: zeroB.tensors }),
    ).toThrow(/have no place in this model and config: .*v_proj/);
    expect(() => applyLora(qwen, { ...cfg, r: 4 }, { seed: 0, init: zeroB.tensors })).toThrow(
      /q_proj.lora_A.weight' is \[8, 64\], this model and config need \[4, 64\]/,
    );
    const gpt2 = await loadBase('tiny-gpt2');
    expect(() =>
      applyLora(gpt2, { ...cfg, targetModules: { kind: 'list', names: ['c_attn'] } }, { seed: 0, init: zeroB.tensors }),
    ).toThrow(PeftError);
  });

  it('modules_to_save on a tied LM head is refused with the reason', async () => {
    const qwen = await loadBase('tiny-qwen2');
    expect(() => applyLora(qwen, makeLoraConfig({ modulesToSave: ['lm_head'] }), { seed: 0 })).toThrow(/ties lm_head/);
    expect(() => applyLora(qwen, makeLoraConfig({ modulesToSave: ['embed_tokens'] }), { seed: 0 })).toThrow(
      /ties its LM head/,
    );
    expect(() => applyLora(qwen, makeLoraConfig({ modulesToSave: ['nope'] }), { seed: 0 })).toThrow(/'nope'/);
  });
});

describe.each([
  ['tiny-qwen2', 'tiny-qwen2-lora'],
  ['tiny-qwen2', 'tiny-qwen2-lora-zeroB'],
  ['tiny-gpt2', 'tiny-gpt2-lora'],
])('%s + %s through the method', (model, adapter) => {
  it('gives the fixture loss from the initial adapter (--init-adapter)', async () => {
    const base = await loadBase(model);
    const loaded = await loadPeftAdapter(adapterPath(adapter));
    const applied = applyLora(base, asLoraConfig(loaded.config, 'fixture'), { seed: 0, init: loaded.tensors });
    const { loss: expected } = await readJson<{ loss: number }>(join(FIXTURES, 'expected', `${adapter}.loss.json`));
    const batch = await chat();
    const feeds = { ...batch.feeds, ...Object.fromEntries(applied.params) };
    const { graph } = buildGradientGraph(applied.buildGraph('loss'), {
      loss: CAUSAL_LM_NAMES.loss,
      wrt: [...applied.params.keys()],
    });
    const out = await runGraph(graph, feeds, [CAUSAL_LM_NAMES.loss]);
    const loss = (out.loss!.data as Float32Array)[0]!;
    expect(Math.abs(loss - expected) / expected).toBeLessThan(1e-5);
  });

  it('saves back what PEFT saved: same tensors and config fields', async () => {
    const base = await loadBase(model);
    const loaded = await loadPeftAdapter(adapterPath(adapter));
    const applied = applyLora(base, asLoraConfig(loaded.config, 'fixture'), { seed: 0, init: loaded.tensors });
    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      const again = await loadPeftAdapter(dir);
      expect([...again.tensors.keys()].sort()).toEqual([...loaded.tensors.keys()].sort());
      for (const [k, t] of loaded.tensors) {
        expect(again.tensors.get(k)!.dims).toEqual(t.dims);
        expect(again.tensors.get(k)!.data).toEqual(t.data);
      }
      const src = JSON.parse(await readFile(join(adapterPath(adapter), 'adapter_config.json'), 'utf8'));
      const got = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
      for (const [k, v] of Object.entries(src)) expect([k, got[k]]).toEqual([k, v]);
      // byte-identical tensors file: PEFT's own layout (sorted keys, 'pt' metadata)
      expect(await readFile(join(dir, 'adapter_model.safetensors'))).toEqual(
        await readFile(join(adapterPath(adapter), 'adapter_model.safetensors')),
      );
    });
  });
});

describe('LoRA bias, modules_to_save and dropout', () => {
  it('bias="all"/"lora_only" train biases, saved under PEFT keys, and load back', async () => {
    const gpt2 = await loadBase('tiny-gpt2');
    const all = applyLora(gpt2, makeLoraConfig({ r: 2, targetModules: ['c_attn'], bias: 'all' }), { seed: 1 });
    const biases = [...all.params.keys()].filter((k) => k.endsWith('.bias'));
    expect(biases).toContain('transformer.h.0.ln_1.bias');
    expect(biases).toContain('transformer.h.1.mlp.c_fc.bias');
    expect(biases.every((b) => all.noDecay.has(b))).toBe(true);
    expect(all.trainable).toEqual(biases);
    const qwen = await loadBase('tiny-qwen2');
    const only = applyLora(qwen, makeLoraConfig({ r: 2, targetModules: ['q_proj', 'o_proj'], bias: 'lora_only' }), {
      seed: 1,
    });
    expect([...only.params.keys()].filter((k) => k.endsWith('.bias'))).toEqual([
      'model.layers.0.self_attn.q_proj.bias',
      'model.layers.1.self_attn.q_proj.bias',
    ]);
    await withTempDir(async (dir) => {
      (only.params.get('model.layers.0.self_attn.q_proj.bias')!.data as Float32Array)[0] = 42;
      await only.save(dir, only.params);
      const saved = await loadPeftAdapter(dir);
      expect(saved.tensors.has('base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias')).toBe(true);
      const again = applyLora(qwen, asLoraConfig(saved.config, dir), { seed: 9, init: saved.tensors });
      expect((again.params.get('model.layers.0.self_attn.q_proj.bias')!.data as Float32Array)[0]).toBe(42);
      expect(qwen.weights.get('model.layers.0.self_attn.q_proj.bias')!.data[0]).not.toBe(42);
    });
  });

  it('modules_to_save trains a copy saved under the module path', async () => {
    const llama = await loadBase('tiny-llama');
    const a = applyLora(llama, makeLoraConfig({ r: 2, modulesToSave: ['lm_head'] }), { seed: 1 });
    expect(a.trainable).toEqual(['lm_head.weight']);
    expect(a.params.get('lm_head.weight')!.data).not.toBe(llama.weights.get('lm_head.weight')!.data);
    const c = a.countParams();
    const lmHead = 320 * 64;
    expect(c.trainable).toBe(lmHead + 2 * (2 * 64 + 64 * 2 + (2 * 64 + 32 * 2))); // per layer q: A [2,64] B [64,2]; v: A [2,64] B [32,2]
    await withTempDir(async (dir) => {
      await a.save(dir, a.params);
      const saved = await loadPeftAdapter(dir);
      expect(saved.tensors.has('base_model.model.lm_head.weight')).toBe(true);
      expect(saved.config.peftType === 'LORA' && saved.config.modulesToSave).toEqual(['lm_head']);
    });
  });

  it('lora_dropout > 0 puts a seeded Dropout on the LoRA input of the training graph only', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const a = applyLora(qwen, makeLoraConfig({ r: 2, loraDropout: 0.1 }), { seed: 1, dropoutMasks: 'graph' });
    const train = a.buildGraph('loss');
    const evalGraph = a.buildGraph('loss', { training: false });
    expect(train.nodes.filter((n) => n.opType === 'Dropout')).toHaveLength(4);
    expect(evalGraph.nodes.filter((n) => n.opType === 'Dropout')).toHaveLength(0);
    const { graph, gradients } = buildGradientGraph(train, { loss: 'loss', wrt: [...a.params.keys()] });
    const batch = await chat();
    // B starts at zero, so the loss equals the base loss even with dropout; A's gradient is zero, B's is not.
    const out = await runGraph(graph, { ...batch.feeds, ...Object.fromEntries(a.params) }, [
      'loss',
      ...Object.values(gradients),
    ]);
    const { loss: baseLoss } = await readJson<{ loss: number }>(
      join(FIXTURES, 'expected', 'tiny-qwen2.base.loss.json'),
    );
    expect(Math.abs((out.loss!.data as Float32Array)[0]! - baseLoss) / baseLoss).toBeLessThan(1e-5);
    const gB = out[gradients['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight']!]!.data as Float32Array;
    expect(gB.some((v) => v !== 0)).toBe(true);

    // With a non-zero B, the training graph's loss moves with the dropout mask (a fresh mask each step, from the
    // seeded generator) and differs from the evaluation loss. (onnxruntime drops a Dropout whose mask nothing
    // reads, so this is visible in the gradient graph, where the backward reads the mask.)
    const fixture = await loadPeftAdapter(adapterPath('tiny-qwen2-lora-zeroB'));
    for (const t of fixture.tensors.values()) (t.data as Float32Array).fill(0.05);
    const d = applyLora(
      qwen,
      { ...asLoraConfig(fixture.config, 'x'), loraDropout: 0.5 },
      { seed: 1, init: fixture.tensors, dropoutMasks: 'graph' },
    );
    const evalLoss = (await runGraph(d.buildGraph('loss', { training: false }), batch.feeds, ['loss'])).loss!.data[0];
    const dg = buildGradientGraph(d.buildGraph('loss'), { loss: 'loss', wrt: [...d.params.keys()] }).graph;
    const session = await createSession(dg);
    const trainLosses: number[] = [];
    try {
      for (let i = 0; i < 3; i++)
        trainLosses.push(
          (await session.run({ ...batch.feeds, ...Object.fromEntries(d.params) }, ['loss'])).loss!.data[0] as number,
        );
    } finally {
      await session.release();
    }
    expect(new Set([...trainLosses, evalLoss]).size).toBe(4);
  });
});

describe('loadTrainedModel', () => {
  it('evaluates a saved adapter with trained biases and modules_to_save as training saw it', async () => {
    const llama = await loadBase('tiny-llama');
    const a = applyLora(llama, makeLoraConfig({ r: 2, bias: 'all', modulesToSave: ['lm_head'] }), { seed: 5 });
    for (const t of a.params.values()) {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) + 0.01 * Math.sin(i);
    }
    const batch = await chat();
    const expected = (await runGraph(a.buildGraph('loss', { training: false }), batch.feeds, ['loss'])).loss!.data[0];
    await withTempDir(async (dir) => {
      await a.save(dir, a.params);
      const lm = await loadTrainedModel(modelPath('tiny-llama'), dir);
      const got = (await runGraph(lm.build('loss'), batch.feeds, ['loss'])).loss!.data[0];
      expect(got).toBeCloseTo(expected as number, 5);
    });
  });
});

describe("lora_dropout with dropoutMasks: 'fed'", () => {
  it('draws masks from (seed, micro-step) alone, so a resumed run repeats them', async () => {
    const qwen = await loadBase('tiny-qwen2');
    const fixture = await loadPeftAdapter(adapterPath('tiny-qwen2-lora-zeroB'));
    const cfg = { ...asLoraConfig(fixture.config, 'x'), loraDropout: 0.25 };
    const a = applyLora(qwen, cfg, { seed: 7, init: fixture.tensors, dropoutMasks: 'fed' });
    const batch = await chat();
    const rows = batch.batch * batch.seq;
    const m0 = a.stepFeeds?.(0, rows) ?? {};
    expect(Object.keys(m0)).toHaveLength(4);
    const q0 = m0['lora_dropout_mask:model.layers.0.self_attn.q_proj']!;
    expect(q0.dims).toEqual([rows, 64]);
    const zeros = (q0.data as Float32Array).filter((v) => v === 0).length / q0.data.length;
    expect(zeros).toBeGreaterThan(0.2);
    expect(zeros).toBeLessThan(0.3);
    expect(new Set(q0.data as Float32Array)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    // a fresh apply (a resumed run) draws the same masks for the same micro-step, other steps differ
    const resumed = applyLora(qwen, cfg, { seed: 7, init: fixture.tensors, dropoutMasks: 'fed' });
    expect(resumed.stepFeeds?.(3, rows)).toEqual(a.stepFeeds?.(3, rows));
    expect(a.stepFeeds?.(4, rows)['lora_dropout_mask:model.layers.0.self_attn.q_proj']?.data).not.toEqual(
      a.stepFeeds?.(3, rows)['lora_dropout_mask:model.layers.0.self_attn.q_proj']?.data,
    );

    const { graph } = buildGradientGraph(a.buildGraph('loss'), { loss: 'loss', wrt: [...a.params.keys()] });
    const params = Object.fromEntries(a.params);
    const lossWith = async (masks: Record<string, TensorData>) =>
      (await runGraph(graph, { ...batch.feeds, ...params, ...masks }, ['loss'])).loss!.data[0] as number;
    const evalLoss = (await runGraph(a.buildGraph('loss', { training: false }), batch.feeds, ['loss'])).loss!.data[0];
    // all-keep masks give the evaluation loss; a drawn mask changes it, the same mask reproduces it exactly
    const ones = Object.fromEntries(
      Object.entries(m0).map(([k, t]) => [k, { ...t, data: new Float32Array(t.data.length).fill(1) }]),
    );
    for (const t of a.params.values()) (t.data as Float32Array).fill(0.05);
    const evalAfter = (await runGraph(a.buildGraph('loss', { training: false }), batch.feeds, ['loss'])).loss!.data[0];
    expect(evalAfter).not.toBe(evalLoss);
    expect(await lossWith(ones)).toBeCloseTo(evalAfter as number, 5);
    const l3 = await lossWith(a.stepFeeds?.(3, rows) ?? {});
    expect(Math.abs(l3 - (evalAfter as number))).toBeGreaterThan(1e-4);
    expect(await lossWith(resumed.stepFeeds?.(3, rows) ?? {})).toBe(l3);
  });
});
