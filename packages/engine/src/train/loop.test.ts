// The loop's rules on the tiny Qwen2 model with a LoRA adapter: accumulation equals one big batch, clipping
// scales the update by max/(norm + 1e-6), non-finite steps are skipped then fail, early stopping, fractional
// epochs, logging, cancellation and bad input.

import { afterAll, describe, expect, it } from 'vitest';
import { releaseAllSessions } from '../onnx/runtime.js';
import { TrainError } from './errors.js';
import { countSteps, train } from './loop.js';
import { adapterDir, fixtureModel, fixtureRows, localLora, relL2 } from './testing.js';
import type { Hyperparameters, LogEvent, TrainRow } from './types.js';

afterAll(releaseAllSessions);

const model = await fixtureModel();
const rows = await fixtureRows();
const lora = () => localLora(adapterDir('tiny-qwen2-lora'));
const base: Hyperparameters = { lr: 0.05, optimizer: 'sgd', scheduler: 'constant', shuffle: false };
const flat = (m: Map<string, { data: unknown }>) =>
  Float32Array.from([...m.values()].flatMap((t) => [...(t.data as Float32Array)]));

describe('training loop', () => {
  it('gradient accumulation over 2 × 2 rows equals one batch of 4 (token-mean rule)', async () => {
    const a = await lora();
    const b = await lora();
    const ra = await train({ model, method: a, train: rows, hyperparameters: { ...base, maxSteps: 2, batchSize: 4 } });
    const rb = await train({
      model,
      method: b,
      train: rows,
      hyperparameters: { ...base, maxSteps: 2, batchSize: 2, gradAccum: 2 },
    });
    expect(rb.totalSteps).toBe(2);
    for (const [i, l] of ra.losses.entries())
      expect(Math.abs((rb.losses[i]?.loss as number) / l.loss - 1)).toBeLessThan(1e-6);
    expect(relL2(flat(b.params), flat(a.params))).toBeLessThan(1e-5);
  });

  it('clips by global norm: the SGD update shrinks by max/(norm + 1e-6) and the log shows the pre-clip norm', async () => {
    const start = flat((await lora()).params);
    const a = await lora();
    const logsA: LogEvent[] = [];
    await train({
      model,
      method: a,
      train: rows,
      hyperparameters: { ...base, maxSteps: 1, batchSize: 4 },
      callbacks: { onLog: (e) => logsA.push(e) },
    });
    const norm = logsA[0]?.gradNorm as number;
    expect(norm).toBeGreaterThan(0.1);
    const b = await lora();
    const logsB: LogEvent[] = [];
    await train({
      model,
      method: b,
      train: rows,
      hyperparameters: { ...base, maxSteps: 1, batchSize: 4, maxGradNorm: 0.1 },
      callbacks: { onLog: (e) => logsB.push(e) },
    });
    expect(logsB[0]?.gradNorm).toBe(norm);
    const da = flat(a.params).map((x, i) => x - (start[i] as number));
    const db = flat(b.params).map((x, i) => x - (start[i] as number));
    const scaled = da.map((x) => (x * 0.1) / (norm + 1e-6));
    expect(relL2(db, scaled)).toBeLessThan(1e-3);
  });

  it('skips non-finite steps without touching the params, then fails after N in a row', async () => {
    const m = await lora();
    const first = m.params.values().next().value?.data as Float32Array;
    first[0] = Number.NaN;
    const before = flat(m.params);
    const events: number[] = [];
    const err = await train({
      model,
      method: m,
      train: rows,
      hyperparameters: { ...base, maxSteps: 10, batchSize: 2, maxNonFiniteInARow: 3 },
      callbacks: { onNonFinite: (e) => events.push(e.inARow) },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainError);
    expect((err as TrainError).code).toBe('non_finite');
    expect((err as Error).message).toMatch(/3 steps in a row/);
    expect(events).toEqual([1, 2, 3]);
    const after = flat(m.params);
    for (let i = 1; i < after.length; i++) expect(after[i]).toBe(before[i]);
  });

  it('evaluates, stops early, and logs every N steps with finite fields', async () => {
    const m = await lora();
    const logs: LogEvent[] = [];
    const evals: number[] = [];
    const r = await train({
      model,
      method: m,
      train: rows,
      validation: rows.slice(0, 2),
      hyperparameters: {
        ...base,
        maxSteps: 10,
        batchSize: 1,
        evalEvery: 2,
        logEvery: 2,
        earlyStoppingPatience: 1,
        // Every evaluation after the first counts as no improvement.
        earlyStoppingThreshold: 100,
      },
      callbacks: { onLog: (e) => logs.push(e), onEval: (e) => evals.push(e.step) },
    });
    expect(r.stopReason).toBe('early_stopping');
    expect(r.steps).toBe(4);
    expect(evals).toEqual([2, 4]);
    expect(logs.map((l) => l.step)).toEqual([2, 4]);
    expect(logs[1]?.valLoss).toBe(r.valLosses[1]?.loss);
    for (const l of logs) {
      for (const v of [l.loss, l.lr, l.gradNorm, l.tokensPerSecond, l.elapsedS, l.remainingS, l.peakRssMb]) {
        expect(Number.isFinite(v)).toBe(true);
      }
      expect(l.totalSteps).toBe(10);
    }
    expect(logs[0]?.loss).toBeCloseTo(((r.losses[0]?.loss as number) + (r.losses[1]?.loss as number)) / 2, 10);
  });

  it('counts fractional epochs as transformers does', async () => {
    expect(countSteps(4, { batchSize: 1, gradAccum: 1, epochs: 0.5, maxSteps: undefined }).totalSteps).toBe(2);
    expect(countSteps(4, { batchSize: 1, gradAccum: 3, epochs: 1.5, maxSteps: undefined })).toEqual({
      batchesPerEpoch: 4,
      stepsPerEpoch: 2,
      totalSteps: 3,
    });
    const m = await lora();
    const r = await train({ model, method: m, train: rows, hyperparameters: { ...base, batchSize: 1, epochs: 0.5 } });
    expect(r.steps).toBe(2);
    expect(r.epoch).toBe(0.5);
  });

  it('stops on an abort signal with a typed error', async () => {
    const m = await lora();
    const ac = new AbortController();
    const err = await train({
      model,
      method: m,
      train: rows,
      hyperparameters: { ...base, maxSteps: 4, batchSize: 1 },
      callbacks: { onLog: (e) => e.step === 2 && ac.abort() },
      signal: ac.signal,
    }).catch((e: unknown) => e);
    expect((err as TrainError).code).toBe('aborted');
  });

  it('refuses bad input with typed errors', async () => {
    const m = await lora();
    const run = (hp: Partial<Hyperparameters>, data: readonly TrainRow[] = rows) =>
      train({ model, method: m, train: data, hyperparameters: { ...base, ...hp } as Hyperparameters }).then(
        (): TrainError => {
          throw new Error('expected this run to fail');
        },
        (e: unknown) => e as TrainError,
      );
    for (const lr of [0, -1e-3, Number.NaN]) {
      const e = await run({ lr });
      expect(e.code).toBe('bad_hyperparameter');
      expect(e.message).toMatch(/lr/);
    }
    expect((await run({ batchSize: 0 })).message).toMatch(/batchSize must be a positive integer, got 0/);
    expect((await run({ gradAccum: 1.5 })).message).toMatch(/gradAccum/);
    expect((await run({ epochs: 0 })).message).toMatch(/epochs/);
    expect((await run({}, [])).code).toBe('empty_dataset');
    const unscored = rows.map((r) => ({ input_ids: r.input_ids, labels: r.input_ids.map(() => -100) }));
    expect((await run({}, unscored)).code).toBe('empty_dataset');
    expect((await run({ evalEvery: 1 })).message).toMatch(/no validation set/);
    expect((await run({ saveEvery: 1 })).message).toMatch(/outputDir/);
  });
});
