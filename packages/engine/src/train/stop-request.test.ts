// Save then stop: a stop request is honoured at the next step boundary by checkpointing that step (even off
// the saveEvery grid) and returning 'stopped'; resuming from that checkpoint ends with the params of a run
// never stopped. A request made before the first step takes no step and writes nothing.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseAllSessions } from '../onnx/runtime.js';
import { listCheckpoints } from './checkpoint.js';
import { train } from './loop.js';
import { adapterDir, fixtureModel, fixtureRows, localLora, relL2, withTempDir } from './testing.js';
import type { Hyperparameters } from './types.js';

afterAll(releaseAllSessions);

const model = await fixtureModel();
const rows = await fixtureRows();
const lora = () => localLora(adapterDir('tiny-qwen2-lora'));
const flat = (m: Map<string, { data: unknown }>) =>
  Float32Array.from([...m.values()].flatMap((t) => [...(t.data as Float32Array)]));
const hp: Hyperparameters = {
  lr: 0.02,
  maxSteps: 7,
  batchSize: 1,
  optimizer: 'adamw',
  scheduler: 'linear',
  warmupSteps: 2,
  seed: 3,
  saveEvery: 3,
};

describe('stop request (save then stop)', () => {
  it('checkpoints the step in progress, returns stopped, and a resume ends equal to an uninterrupted run', async () => {
    await withTempDir(async (dir) => {
      const fullMethod = await lora();
      const full = await train({
        model,
        method: fullMethod,
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'a'),
      });
      expect(full.stopReason).toBe('completed');

      const stop = new AbortController();
      const steps: number[] = [];
      const stopped = await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        stopRequest: stop.signal,
        callbacks: {
          onLog: (e) => {
            steps.push(e.step);
            if (e.step === 4) stop.abort();
          },
        },
      });
      expect(stopped.stopReason).toBe('stopped');
      expect(stopped.steps).toBe(4);
      expect(steps).toEqual([1, 2, 3, 4]);
      // checkpoint-4 is off the saveEvery grid: it exists only because of the stop.
      expect((await listCheckpoints(join(dir, 'b'))).map((c) => c.step)).toEqual([3, 4]);
      expect(stopped.lastCheckpoint).toBe(join(dir, 'b', 'checkpoint-4'));

      const resumedMethod = await lora();
      const resumed = await train({
        model,
        method: resumedMethod,
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        resumeFrom: join(dir, 'b', 'checkpoint-4'),
      });
      expect(resumed.losses.map((l) => l.step)).toEqual([5, 6, 7]);
      expect(relL2(flat(resumedMethod.params), flat(fullMethod.params))).toBeLessThan(1e-6);
    });
  });

  it('a request made before the first step takes no step and saves nothing', async () => {
    await withTempDir(async (dir) => {
      const stop = new AbortController();
      stop.abort();
      const r = await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: hp,
        outputDir: dir,
        stopRequest: stop.signal,
      });
      expect(r.stopReason).toBe('stopped');
      expect(r.steps).toBe(0);
      expect(r.lastCheckpoint).toBeUndefined();
      expect(await readdir(dir).catch(() => [])).toEqual([]);
    });
  });
});
