// The worker-resident update (params, gradient and optimiser kept in the onnxruntime worker, train/resident.ts)
// against the main-thread path it replaces: the same losses, gradient norms, params and checkpointed optimiser
// state, bit for bit, for full fine-tuning and LoRA with dropout, with accumulation, clipping, weight decay
// and a non-finite skip.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseAllSessions } from '../onnx/runtime.js';
import { getMethod } from '../peft/registry.js';
import { loadBase } from '../peft/testing.js';
import { readCheckpoint } from './checkpoint.js';
import { train } from './loop.js';
import { type OptimizerSpec, ResidentTrainingState } from './resident.js';
import { fixtureRows, withTempDir } from './testing.js';
import type { Hyperparameters, LogEvent } from './types.js';

afterAll(releaseAllSessions);

const rows = await fixtureRows();

async function run(
  methodName: 'full' | 'lora',
  config: Record<string, unknown> | undefined,
  hp: Hyperparameters,
  residentOptimizer: boolean,
  dir: string,
) {
  // A base of its own per run: full fine-tuning updates the base's arrays.
  const base = await loadBase('tiny-qwen2');
  const m = getMethod(methodName);
  const cfg = config === undefined ? m.defaults() : m.parseConfig(config, 'test');
  const method = m.apply(base, cfg, { seed: 5 });
  const logs: LogEvent[] = [];
  const r = await train({
    model: base,
    method,
    train: rows,
    hyperparameters: hp,
    outputDir: dir,
    residentOptimizer,
    callbacks: { onLog: (e) => logs.push(e) },
  });
  const params = new Map([...method.params].map(([k, t]) => [k, Float32Array.from(t.data as Float32Array)]));
  const ck = await readCheckpoint(r.lastCheckpoint as string);
  return { r, logs, params, ck };
}

describe('worker-resident update equals the main-thread update', () => {
  for (const [name, methodName, config, hp] of [
    [
      'full fine-tuning, AdamW, weight decay, clipping, accumulation',
      'full',
      undefined,
      { lr: 1e-3, maxSteps: 3, batchSize: 2, gradAccum: 2, weightDecay: 0.1, maxGradNorm: 0.5, saveEvery: 3 },
    ],
    [
      'LoRA with dropout, AdamW',
      'lora',
      { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj'] },
      { lr: 1e-2, maxSteps: 4, batchSize: 2, gradAccum: 2, seed: 3, saveEvery: 2 },
    ],
    [
      'LoRA, SGD with Nesterov momentum',
      'lora',
      { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] },
      { lr: 1e-2, maxSteps: 3, batchSize: 4, optimizer: 'sgd', momentum: 0.9, nesterov: true, saveEvery: 3 },
    ],
  ] as const) {
    it(name, async () => {
      await withTempDir(async (dir) => {
        const hps = { scheduler: 'linear', ...hp } as Hyperparameters;
        const old = await run(methodName, config, hps, false, join(dir, 'main'));
        const now = await run(methodName, config, hps, true, join(dir, 'resident'));
        expect(now.r.losses).toEqual(old.r.losses);
        expect(now.logs.map((l) => l.gradNorm)).toEqual(old.logs.map((l) => l.gradNorm));
        expect(now.params.size).toBe(old.params.size);
        for (const [k, a] of old.params) expect(now.params.get(k), k).toEqual(a);
        // The checkpoint written mid-run carries the same params and optimiser state.
        expect(now.ck.state.optimizer).toEqual(old.ck.state.optimizer);
        expect([...now.ck.optimizer.keys()]).toEqual([...old.ck.optimizer.keys()]);
        for (const [k, a] of old.ck.optimizer) expect(now.ck.optimizer.get(k), k).toEqual(a);
        for (const [k, a] of old.ck.params) expect(now.ck.params.get(k), k).toEqual(a);
      });
    });
  }
});

describe('ResidentTrainingState', () => {
  it('skips a window whose loss or gradient is not finite, and leaves the params alone', async () => {
    const p = new Float32Array([1, 2]);
    const s = new ResidentTrainingState(new Map([['p', p]]), {
      name: 'sgd',
      momentum: 0,
      nesterov: false,
      weightDecay: 0,
      noDecay: [],
    });
    s.accumulate([new Float32Array([Number.NaN, 1])]);
    const r = await s.step({ gradScale: 0.5, lossFinite: true, lr: 1, maxGradNorm: 0 });
    expect(r.applied).toBe(false);
    expect(Number.isNaN(r.gradNorm)).toBe(true);
    s.accumulate([new Float32Array([3, 4])]);
    s.accumulate([new Float32Array([3, 4])]);
    expect(await s.step({ gradScale: 0.5, lossFinite: false, lr: 1, maxGradNorm: 0 })).toEqual({
      gradNorm: 5,
      applied: false,
    });
    expect([...p]).toEqual([1, 2]);
    s.accumulate([new Float32Array([3, 4])]);
    expect(await s.step({ gradScale: 1, lossFinite: true, lr: 0.1, maxGradNorm: 2.5 })).toEqual({
      gradNorm: 5,
      applied: true,
    });
    // Clipped to norm 2.5 / (5 + 1e-6) of (3, 4), then p − 0.1 · g.
    expect(p[0]).toBeCloseTo(1 - 0.1 * 1.5, 6);
    expect(p[1]).toBeCloseTo(2 - 0.1 * 2, 6);
    expect(s.stepCount).toBe(1);
  });

  it('on two threads, a skipped window leaves both parts alone and the next one updates both', async () => {
    const init = new Map([
      ['a', new Float32Array([1, 2])],
      ['b', new Float32Array([3, 4])],
    ]);
    const s = new ResidentTrainingState(
      new Map([...init].map(([n, a]) => [n, a.slice()])),
      { name: 'sgd', momentum: 0, nesterov: false, weightDecay: 0, noDecay: [] },
      undefined,
      0,
    );
    const values = () => [...s.params.values()].map((a) => [...a]);
    // Not finite in the helper's part ('b'), then a non-finite loss: nothing moves.
    s.accumulate([new Float32Array([1, 1]), new Float32Array([Number.POSITIVE_INFINITY, 0])]);
    const r = await s.step({ gradScale: 1, lossFinite: true, lr: 1, maxGradNorm: 0 });
    expect(r.applied).toBe(false);
    expect(r.gradNorm).toBe(Number.POSITIVE_INFINITY);
    s.accumulate([new Float32Array([0, 3]), new Float32Array([4, 0])]);
    expect(await s.step({ gradScale: 1, lossFinite: false, lr: 1, maxGradNorm: 0 })).toEqual({
      gradNorm: 5,
      applied: false,
    });
    expect(values()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    s.accumulate([new Float32Array([0, 6]), new Float32Array([8, 0])]);
    expect(await s.step({ gradScale: 0.5, lossFinite: true, lr: 1, maxGradNorm: 0 })).toEqual({
      gradNorm: 5,
      applied: true,
    });
    expect(values()).toEqual([
      [1, -1],
      [-1, 4],
    ]);
    await s.close();
  });

  it.each<OptimizerSpec>([
    { name: 'adamw', betas: [0.9, 0.99], eps: 1e-6, weightDecay: 0.1, noDecay: ['b'] },
    { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0.01, noDecay: ['b'] },
  ])('$name on two threads equals one thread to the bit, resumed state included', async (spec) => {
    const sizes: [string, number][] = [
      ['a', 1000],
      ['b', 37],
      ['c', 700],
      ['d', 513],
    ];
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    const init = new Map(sizes.map(([n, k]) => [n, Float32Array.from({ length: k }, rnd)]));
    const grads = Array.from({ length: 4 }, () => sizes.map(([, k]) => Float32Array.from({ length: k }, rnd)));
    const copy = (m: ReadonlyMap<string, Float32Array>) => new Map([...m].map(([n, a]) => [n, a.slice()]));
    const run = async (parallelFrom: number, restore?: { step: number; state: Map<string, Float32Array> }) => {
      const params = copy(init);
      const s = new ResidentTrainingState(params, spec, restore, parallelFrom);
      const norms: number[] = [];
      for (const g of grads) {
        s.accumulate(g.map((a) => a.slice()));
        // maxGradNorm small enough to clip: the clip factor reaches both threads.
        norms.push((await s.step({ gradScale: 0.25, lossFinite: true, lr: 0.01, maxGradNorm: 0.1 })).gradNorm);
      }
      const state = await s.optimizerState();
      const step = s.stepCount;
      await s.close();
      // Read through the state: a two-thread step moves the helper's part away and back (new arrays).
      return { params: copy(s.params), norms, state: copy(state), step };
    };
    const one = await run(Number.POSITIVE_INFINITY);
    const two = await run(0);
    expect(two.norms).toEqual(one.norms);
    expect(two.step).toBe(one.step);
    for (const [n, a] of one.params) expect(two.params.get(n), n).toEqual(a);
    expect([...two.state.keys()].sort()).toEqual([...one.state.keys()].sort());
    for (const [k, a] of one.state) expect(two.state.get(k), k).toEqual(a);
    // Restored on two threads from one thread's state: the next steps agree again.
    const again1 = await run(Number.POSITIVE_INFINITY, { step: one.step, state: one.state });
    const again2 = await run(0, { step: one.step, state: one.state });
    for (const [n, a] of again1.params) expect(again2.params.get(n), n).toEqual(a);
    expect(one.params.get('a')).not.toEqual(init.get('a')); // the steps moved the params
  });
});
