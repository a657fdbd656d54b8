// releaseFrozenWeights: a LoRA run that frees the main thread's base weights once its sessions exist trains,
// validates and checkpoints exactly as one that keeps them, the freeing is real (the base's buffers are
// detached), and a later run on the released base fails with a typed error instead of reading empty arrays.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import { releaseAllSessions } from '../onnx/runtime.js';
import { getMethod } from '../peft/registry.js';
import { loadBase } from '../peft/testing.js';
import { TrainError } from './errors.js';
import { train } from './loop.js';
import { assertWeightsPresent, releaseFrozenWeights } from './release.js';
import { fixtureRows, withTempDir } from './testing.js';

afterAll(releaseAllSessions);

const closeRel = (a: number, b: number): void => {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6 * Math.abs(b));
};

describe('releaseFrozenWeights', () => {
  it('LoRA with the release gives the same losses, validation losses, checkpoint and adapter as without', async () => {
    const rows = await fixtureRows();
    const m = getMethod('lora');
    const cfg = m.parseConfig(
      { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj'] },
      'test',
    );
    const hp = { lr: 1e-2, maxSteps: 4, batchSize: 2, scheduler: 'constant', evalEvery: 2, saveEvery: 2 } as const;
    const run = async (dir: string, release: boolean) => {
      const base = await loadBase('tiny-qwen2');
      const method = m.apply(base, cfg, { seed: 5 });
      const r = await train({
        model: base,
        method,
        train: rows.slice(2),
        validation: rows.slice(0, 2),
        hyperparameters: hp,
        outputDir: dir,
        releaseFrozenWeights: release,
      });
      await method.save(join(dir, 'adapter'), method.params);
      return { r, base, method };
    };
    await withTempDir(async (dir) => {
      const kept = await run(join(dir, 'kept'), false);
      const freed = await run(join(dir, 'freed'), true);
      expect(freed.r.losses.map((l) => l.step)).toEqual([1, 2, 3, 4]);
      for (const [i, l] of freed.r.losses.entries()) closeRel(l.loss, kept.r.losses[i]?.loss as number);
      expect(freed.r.valLosses.map((l) => l.step)).toEqual([2, 4]);
      for (const [i, l] of freed.r.valLosses.entries()) closeRel(l.loss, kept.r.valLosses[i]?.loss as number);

      // The base really is freed: every frozen weight's buffer is detached; the trainable params are not.
      const weights = [...freed.base.weights.values()];
      expect(weights.length).toBeGreaterThan(0);
      for (const t of weights) expect(t.data.length).toBe(0);
      expect(kept.base.weights.get('model.embed_tokens.weight')?.data.length).toBeGreaterThan(0);

      // Adapter and checkpoint (written mid-run, after the release) match the run that kept the base.
      for (const sub of ['adapter', 'checkpoint-2']) {
        const a = await loadPeftAdapter(join(dir, 'kept', sub));
        const b = await loadPeftAdapter(join(dir, 'freed', sub));
        expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
        expect(b.tensors.size).toBeGreaterThan(0);
        for (const [k, t] of a.tensors) {
          const u = b.tensors.get(k)?.data as Float32Array;
          const v = t.data as Float32Array;
          expect(u.length).toBe(v.length);
          let d = 0;
          let n = 0;
          for (let i = 0; i < v.length; i++) {
            d = Math.max(d, Math.abs((u[i] as number) - (v[i] as number)));
            n = Math.max(n, Math.abs(v[i] as number));
          }
          expect(d).toBeLessThanOrEqual(1e-5 * n);
        }
      }
      const state = JSON.parse(await readFile(join(dir, 'freed', 'checkpoint-4', 'trainer_state.json'), 'utf8'));
      expect(state.step).toBe(4);

      // Anything that needs the released base again fails loudly, naming the weight.
      const again = train({
        model: freed.base,
        method: m.apply(kept.base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: { lr: 1e-2, maxSteps: 1 },
      });
      await expect(again).rejects.toBeInstanceOf(TrainError);
      await expect(again).rejects.toMatchObject({ code: 'weights_released' });
      await expect(again).rejects.toThrow(/base weight 'model\..*' was released/);
    });
  });
});

describe('releaseFrozenWeights on shared buffers', () => {
  it('detaches a buffer only when weights cover all of it; params and partly shared buffers stay', () => {
    const own = new Float32Array([1, 2, 3, 4]);
    const shared = new ArrayBuffer(64); // 16 floats, of which a weight views 4: the rest belongs to someone else
    const view = new Float32Array(shared, 16, 4);
    const param = new Float32Array([5, 6]);
    const model = {
      config: {} as never,
      weights: new Map([
        ['own', { dtype: 'float32' as const, dims: [4], data: own }],
        ['view', { dtype: 'float32' as const, dims: [4], data: view }],
        ['param', { dtype: 'float32' as const, dims: [2], data: param }],
      ]),
    };
    const method = { params: new Map([['param', { dtype: 'float32' as const, dims: [2], data: param }]]) } as never;
    expect(releaseFrozenWeights(model, method)).toBe(16);
    expect(own.length).toBe(0);
    expect(view.length).toBe(4);
    expect(shared.byteLength).toBe(64);
    expect(param.length).toBe(2);
    expect(() => assertWeightsPresent(model, 'test')).toThrow(TrainError);
  });
});
