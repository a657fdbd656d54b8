// IA3 against PEFT: the fixture adapter's loss and gradients (computed by PEFT + PyTorch), merge/unmerge
// arithmetic on both weight layouts, PEFT's default targets, and the bad inputs.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGradientGraph } from '../../autodiff/index.js';
import { loadPeftAdapter } from '../../io/peft-adapter.js';
import { loadSafetensors } from '../../io/safetensors-read.js';
import { CAUSAL_LM_NAMES } from '../../models/causal-lm.js';
import type { TensorData } from '../../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../../onnx/runtime.js';
import { PeftError } from '../errors.js';
import { adapterPath, FIXTURES, fixtureBatch, loadBase, readJson } from '../testing.js';
import { asIa3Config, makeIa3Config, parseIa3Config } from './config.js';
import { applyIa3 } from './inject.js';
import { Ia3Merge } from './merge.js';

afterAll(releaseAllSessions);

const expectPeftError = (f: () => unknown, code: string, re: RegExp) => {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PeftError);
  expect((err as PeftError).code).toBe(code);
  expect((err as Error).message).toMatch(re);
};

describe('IA3', () => {
  it('loss and gradients of the fixture adapter match PEFT (1e-5 loss, 1e-4 relative L2 per vector)', async () => {
    const base = await loadBase('tiny-qwen2');
    const a = await loadPeftAdapter(adapterPath('tiny-qwen2-ia3'));
    const applied = applyIa3(base, asIa3Config(a.config, 'fixture'), { seed: 1, init: a.tensors });
    const expected = await loadSafetensors(join(FIXTURES, 'expected', 'tiny-qwen2-ia3.grads.safetensors'));
    const { loss: refLoss } = await readJson<{ loss: number }>(join(FIXTURES, 'expected', 'tiny-qwen2-ia3.loss.json'));
    expect([...applied.params.keys()].sort()).toEqual([...expected.keys()].sort());
    const wrt = [...applied.params.keys()];
    const { graph, gradients } = buildGradientGraph(applied.buildGraph('loss'), { loss: CAUSAL_LM_NAMES.loss, wrt });
    const data = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const out = await runGraph(graph, { ...data.feeds, ...Object.fromEntries(applied.params) }, [
      'loss',
      ...Object.values(gradients),
    ]);
    const loss = (out.loss as TensorData).data[0] as number;
    expect(Math.abs(loss - refLoss) / refLoss).toBeLessThan(1e-5);
    for (const k of wrt) {
      const g = out[gradients[k] as string]?.data as Float32Array;
      const r = expected.get(k)?.data as Float32Array;
      let d = 0;
      let n = 0;
      for (let i = 0; i < r.length; i++) {
        d += ((g[i] as number) - (r[i] as number)) ** 2;
        n += (r[i] as number) ** 2;
      }
      expect([k, Math.sqrt(d / n) < 1e-4]).toEqual([k, true]);
    }
  });

  it("defaults to PEFT's targets: k_proj, v_proj, down_proj (Llama family), c_attn, mlp.c_proj (GPT-2)", async () => {
    const qwen = applyIa3(await loadBase('tiny-qwen2'), makeIa3Config(), { seed: 1 });
    expect([...qwen.params].map(([k, t]) => `${k.replace('base_model.model.model.layers.', '')} ${t.dims}`)).toEqual([
      '0.self_attn.k_proj.ia3_l 32,1',
      '0.self_attn.v_proj.ia3_l 32,1',
      '0.mlp.down_proj.ia3_l 1,128',
      '1.self_attn.k_proj.ia3_l 32,1',
      '1.self_attn.v_proj.ia3_l 32,1',
      '1.mlp.down_proj.ia3_l 1,128',
    ]);
    expect([...qwen.params.values()].every((t) => (t.data as Float32Array).every((v) => v === 1))).toBe(true);
    const gpt2 = applyIa3(await loadBase('tiny-gpt2'), makeIa3Config(), { seed: 1 });
    expect([...gpt2.params].map(([k, t]) => `${k.replace('base_model.model.transformer.h.', '')} ${t.dims}`)).toEqual([
      '0.attn.c_attn.ia3_l 192,1',
      '0.mlp.c_proj.ia3_l 1,256',
      '1.attn.c_attn.ia3_l 192,1',
      '1.mlp.c_proj.ia3_l 1,256',
    ]);
  });

  it('merges by hand-computed products on [out, in] and Conv1D [in, out] weights; unmerge restores the base', async () => {
    for (const [model, mod, ff] of [
      ['tiny-qwen2', 'model.layers.0.self_attn.k_proj', 'model.layers.0.mlp.down_proj'],
      ['tiny-gpt2', 'transformer.h.0.attn.c_attn', 'transformer.h.0.mlp.c_proj'],
    ] as const) {
      const base = await loadBase(model);
      const applied = applyIa3(base, makeIa3Config(), { seed: 1 });
      // distinct values per feature so a transposed index shows
      for (const t of applied.params.values()) {
        const a = t.data as Float32Array;
        for (let i = 0; i < a.length; i++) a[i] = 1 + 0.01 * i;
      }
      const m = new Ia3Merge(base, { config: applied.config as never, tensors: applied.params });
      m.merge();
      m.merge(); // idempotent
      const W = base.weights.get(`${mod}.weight`) as TensorData;
      const Wm = m.weights.get(`${mod}.weight`) as TensorData;
      const inOut = model === 'tiny-gpt2';
      const [d0, d1] = W.dims as [number, number];
      const o = 5;
      const i = 3;
      const at = inOut ? i * d1 + o : o * d1 + i;
      expect((Wm.data as Float32Array)[at]).toBeCloseTo(((W.data as Float32Array)[at] as number) * (1 + 0.01 * o), 6);
      const bias = base.weights.get(`${mod}.bias`);
      if (bias !== undefined)
        expect(((m.weights.get(`${mod}.bias`) as TensorData).data as Float32Array)[o]).toBeCloseTo(
          ((bias.data as Float32Array)[o] as number) * (1 + 0.01 * o),
          6,
        );
      const F = base.weights.get(`${ff}.weight`) as TensorData;
      const Fm = m.weights.get(`${ff}.weight`) as TensorData;
      const [f0, f1] = F.dims as [number, number];
      const fat = inOut ? i * f1 + o : o * f1 + i; // feed-forward: scaled by the input feature i
      expect((Fm.data as Float32Array)[fat]).toBeCloseTo(((F.data as Float32Array)[fat] as number) * (1 + 0.01 * i), 6);
      expect(m.weights.get(`${ff}.bias`)).toBe(base.weights.get(`${ff}.bias`));
      m.unmerge();
      m.unmerge();
      for (const [k, t] of base.weights) {
        const u = m.weights.get(k)?.data as Float32Array;
        const v = t.data as Float32Array;
        let worst = 0;
        for (let j = 0; j < v.length; j++) worst = Math.max(worst, Math.abs((u[j] as number) - (v[j] as number)));
        expect([k, worst < 1e-6]).toEqual([k, true]);
      }
      expect(d0 * d1 + f0 * f1).toBeGreaterThan(0);
    }
  });

  it('refuses bad input with the setting named', async () => {
    const qwen = await loadBase('tiny-qwen2');
    expectPeftError(
      () => makeIa3Config({ targetModules: ['k_proj'], feedforwardModules: ['down_proj'] }),
      'bad-config',
      /feedforward_modules 'down_proj' not in target_modules.*subset/,
    );
    expectPeftError(
      () => applyIa3(qwen, makeIa3Config({ targetModules: ['c_attn'] }), { seed: 1 }),
      'unknown-target',
      /target_modules 'c_attn' not found.*q_proj/,
    );
    // a LoRA adapter read as IA3
    const lora = await loadPeftAdapter(adapterPath('tiny-qwen2-lora'));
    expectPeftError(() => asIa3Config(lora.config, 'x/adapter_config.json'), 'bad-config', /peft_type is LORA.*IA3/);
    // an IA3 adapter made for another base: Qwen2 vectors on GPT-2
    const gpt2 = await loadBase('tiny-gpt2');
    const ia3 = await loadPeftAdapter(adapterPath('tiny-qwen2-ia3'));
    expectPeftError(
      () =>
        applyIa3(gpt2, parseIa3Config({ peft_type: 'IA3', target_modules: ['c_attn'] }, 'x'), {
          seed: 1,
          init: ia3.tensors,
        }),
      'adapter-mismatch',
      /initial adapter has no ia3_l for target module 'transformer.h.0.attn.c_attn'/,
    );
  });
});
