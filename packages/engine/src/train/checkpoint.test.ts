// Checkpoints: a run stopped at step k and resumed from its checkpoint gives the same losses at every later
// step as a run never stopped; a checkpoint is a loadable PEFT adapter; a failed save leaves the previous
// checkpoint intact and no debris; keepLast prunes; a checkpoint of another model, method or dataset is refused.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import { releaseAllSessions } from '../onnx/runtime.js';
import { listCheckpoints, readCheckpoint } from './checkpoint.js';
import { CheckpointMismatchError, TrainError } from './errors.js';
import { train } from './loop.js';
import { adapterDir, fixtureModel, fixtureRows, localLora, withTempDir } from './testing.js';
import type { Hyperparameters } from './types.js';

afterAll(releaseAllSessions);

const model = await fixtureModel();
const rows = await fixtureRows();
const lora = () => localLora(adapterDir('tiny-qwen2-lora'));
// Shuffled, warmup + linear decay, clipping, AdamW with decay: every piece of state matters for the resume.
const hp: Hyperparameters = {
  lr: 0.02,
  epochs: 2.5,
  batchSize: 1,
  optimizer: 'adamw',
  weightDecay: 0.01,
  scheduler: 'linear',
  warmupSteps: 2,
  maxGradNorm: 0.5,
  seed: 7,
  shuffle: true,
  saveEvery: 3,
};

describe('checkpoints and resume', () => {
  it('a run stopped at step 6 and resumed equals an uninterrupted run at every later step', async () => {
    await withTempDir(async (dir) => {
      const full = await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'a'),
      });
      expect(full.totalSteps).toBe(10);
      expect(full.losses).toHaveLength(10);

      // Stop right after checkpoint-6 (mid epoch 2); resume with a fresh method.
      const ac = new AbortController();
      const stopped = await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        signal: ac.signal,
        callbacks: { onCheckpoint: (e) => e.step === 6 && ac.abort() },
      }).catch((e: unknown) => e);
      expect((stopped as TrainError).code).toBe('aborted');
      const resumed = await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: hp,
        outputDir: join(dir, 'b'),
        resumeFrom: join(dir, 'b', 'checkpoint-6'),
      });
      expect(resumed.losses.map((l) => l.step)).toEqual([7, 8, 9, 10]);
      for (const l of resumed.losses) {
        const ref = full.losses.find((x) => x.step === l.step)?.loss as number;
        expect(Math.abs(l.loss - ref)).toBeLessThanOrEqual(1e-6 * Math.abs(ref));
      }
      expect(resumed.epoch).toBe(2.5);

      // The checkpoint is a PEFT adapter; its tensors are the exact params.
      const ck = await readCheckpoint(join(dir, 'b', 'checkpoint-6'));
      expect(ck.state.step).toBe(6);
      expect(ck.state.data).toEqual({ epoch: 1, batch: 2 });
      const adapter = await loadPeftAdapter(join(dir, 'b', 'checkpoint-6'));
      for (const [k, t] of adapter.tensors) expect(t.data).toEqual(ck.params.get(k));
    });
  });

  it('evaluates and saves at epoch ends; resuming from an end-of-epoch checkpoint starts the next epoch', async () => {
    await withTempDir(async (dir) => {
      const h: Hyperparameters = {
        ...hp,
        saveEvery: undefined,
        saveEachEpoch: true,
        evalEvery: 'epoch',
        batchSize: 2,
        epochs: 3,
      };
      const evals: number[] = [];
      const full = await train({
        model,
        method: await lora(),
        train: rows,
        validation: rows.slice(0, 1),
        hyperparameters: h,
        outputDir: dir,
        callbacks: { onEval: (e) => evals.push(e.step) },
      });
      expect(evals).toEqual([2, 4, 6]);
      expect((await listCheckpoints(dir)).map((c) => c.step)).toEqual([2, 4, 6]);
      const ck = await readCheckpoint(join(dir, 'checkpoint-2'));
      expect(ck.state.data).toEqual({ epoch: 1, batch: 0 });
      expect(ck.state.epoch).toBe(1);
      const resumed = await train({
        model,
        method: await lora(),
        train: rows,
        validation: rows.slice(0, 1),
        hyperparameters: h,
        outputDir: join(dir, 'again'),
        resumeFrom: join(dir, 'checkpoint-2'),
      });
      expect(resumed.losses.map((l) => l.loss)).toEqual(full.losses.slice(2).map((l) => l.loss));
      expect(resumed.valLosses).toEqual(full.valLosses.slice(1));
    });
  });

  it('a failed save leaves the previous checkpoint intact; keepLast prunes old ones', async () => {
    await withTempDir(async (dir) => {
      const m = await lora();
      m.failSave = 3;
      const err = await train({
        model,
        method: m,
        train: rows,
        hyperparameters: { ...hp, saveEvery: 1, keepLast: 1, epochs: 1 },
        outputDir: dir,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TrainError);
      expect((err as TrainError).code).toBe('checkpoint_write');
      expect((err as Error).message).toMatch(/checkpoint-3.*ENOSPC/);
      // keepLast 1 pruned checkpoint-1; checkpoint-2 is whole, and no temporary directory is left.
      expect(await readdir(dir)).toEqual(['checkpoint-2']);
      const ck = await readCheckpoint(join(dir, 'checkpoint-2'));
      expect(ck.state.step).toBe(2);
      expect((await loadPeftAdapter(join(dir, 'checkpoint-2'))).tensors.size).toBe(m.params.size);
      expect((await listCheckpoints(dir)).map((c) => c.step)).toEqual([2]);
    });
  });

  it('refuses a checkpoint of another method config, model or dataset, and a directory that is not one', async () => {
    await withTempDir(async (dir) => {
      await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: { ...hp, maxSteps: 1, saveEvery: 1 },
        outputDir: dir,
      });
      const ck = join(dir, 'checkpoint-1');
      const resume = async (o: { method?: Awaited<ReturnType<typeof lora>>; data?: typeof rows; m?: typeof model }) =>
        train({
          model: o.m ?? model,
          method: o.method ?? (await lora()),
          train: o.data ?? rows,
          hyperparameters: hp,
          outputDir: dir,
          resumeFrom: ck,
        }).then(
          (): TrainError => {
            throw new Error('expected this run to fail');
          },
          (e: unknown) => e as TrainError,
        );
      const other = await localLora(adapterDir('tiny-qwen2-lora-zeroB'));
      const e1 = await resume({ method: other });
      expect(e1).toBeInstanceOf(CheckpointMismatchError);
      expect((e1 as CheckpointMismatchError).field).toBe('method_config');
      expect(e1.message).toMatch(/lora settings differ/);
      const e2 = await resume({ data: rows.slice(1) });
      expect((e2 as CheckpointMismatchError).field).toBe('data');
      const e4 = await train({
        model,
        method: await lora(),
        train: rows,
        hyperparameters: { ...hp, seed: 8 },
        outputDir: dir,
        resumeFrom: ck,
      }).then(
        (): CheckpointMismatchError => {
          throw new Error('expected this run to fail');
        },
        (e: unknown) => e as CheckpointMismatchError,
      );
      expect(e4.field).toBe('data_order');
      expect(e4.message).toMatch(/seed was 7/);
      const e3 = await resume({ m: await fixtureModel('tiny-llama') });
      expect((e3 as CheckpointMismatchError).field).toBe('model');
      expect(e3.message).toMatch(/LlamaForCausalLM/);
      for (const bad of [join(dir, 'nope'), dir]) {
        const e = await train({
          model,
          method: await lora(),
          train: rows,
          hyperparameters: hp,
          outputDir: dir,
          resumeFrom: bad,
        }).then(
          (): TrainError => {
            throw new Error('expected this run to fail');
          },
          (x: unknown) => x as TrainError,
        );
        expect(e.code).toBe('bad_checkpoint');
      }
    });
  });
});
