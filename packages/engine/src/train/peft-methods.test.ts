// The loop with peft's registered methods (the AppliedMethod contract): each trains on tiny-chat (the loss falls)
// and writes a checkpoint through the method's own save.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseAllSessions } from '../onnx/runtime.js';
import { getMethod } from '../peft/registry.js';
import { loadBase } from '../peft/testing.js';
import { train } from './loop.js';
import { fixtureRows, withTempDir } from './testing.js';

afterAll(releaseAllSessions);

describe('training with the peft methods', () => {
  for (const [name, lr] of [
    ['lora', 1e-2],
    ['full', 1e-3],
    ['bitfit', 1e-2],
  ] as const) {
    it(`${name}: the loss falls and a checkpoint is written with the method's save`, async () => {
      const base = await loadBase('tiny-qwen2');
      const rows = await fixtureRows();
      const m = getMethod(name);
      const applied = m.apply(base, m.defaults(), { seed: 1 });
      await withTempDir(async (dir) => {
        const r = await train({
          model: base,
          method: applied,
          train: rows,
          hyperparameters: { lr, maxSteps: 4, batchSize: 4, scheduler: 'constant', shuffle: false, saveEvery: 4 },
          outputDir: dir,
        });
        const losses = r.losses.map((l) => l.loss);
        expect(losses).toHaveLength(4);
        expect(losses[3] as number).toBeLessThan((losses[0] as number) - 0.05);
        const files = await readdir(join(dir, 'checkpoint-4'));
        expect(files).toContain('trainer_state.json');
        expect(files.length).toBeGreaterThan(3);
      });
    });
  }
});

describe('LoRA dropout and resume', () => {
  // With dropout the masks are fed per micro-step from (seed, global micro-step), so a resumed run draws the masks
  // the uninterrupted one drew and the losses agree exactly; with masks from the session's own generator they
  // would not.
  it('a run with lora_dropout 0.1 stopped at step 3 and resumed equals an uninterrupted run', async () => {
    const base = await loadBase('tiny-qwen2');
    const rows = await fixtureRows();
    const m = getMethod('lora');
    const cfg = m.parseConfig(
      { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj'] },
      'test',
    );
    const hp = {
      lr: 1e-2,
      maxSteps: 6,
      batchSize: 2,
      gradAccum: 2,
      scheduler: 'constant',
      seed: 3,
      saveEvery: 3,
    } as const;
    await withTempDir(async (dir) => {
      const full = await train({
        model: base,
        method: m.apply(base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'a'),
      });
      const ac = new AbortController();
      await train({
        model: base,
        method: m.apply(base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        signal: ac.signal,
        callbacks: { onCheckpoint: (e) => e.step === 3 && ac.abort() },
      }).catch(() => undefined);
      const resumed = await train({
        model: base,
        method: m.apply(base, cfg, { seed: 5 }),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        resumeFrom: join(dir, 'b', 'checkpoint-3'),
      });
      expect(resumed.losses.map((l) => l.step)).toEqual([4, 5, 6]);
      for (const l of resumed.losses) {
        const ref = full.losses.find((x) => x.step === l.step)?.loss as number;
        expect(Math.abs(l.loss - ref)).toBeLessThanOrEqual(1e-6 * Math.abs(ref));
      }
      // Dropout is really on: the same run without it gives other losses.
      const plain = await train({
        model: base,
        method: m.apply(
          base,
          m.parseConfig({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }, 'test'),
          {
            seed: 5,
          },
        ),
        train: rows,
        hyperparameters: { ...hp, saveEvery: undefined },
        outputDir: join(dir, 'c'),
      });
      expect(plain.losses[2]?.loss).not.toBe(full.losses[2]?.loss);
    });
  });
});
