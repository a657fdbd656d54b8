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
