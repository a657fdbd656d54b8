// Five full-batch AdamW steps from the zero-B LoRA adapter on tiny-chat, against the PyTorch fixture: the loss
// before each step, the loss after the last (via the validation graph) and the trained adapter tensors.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import { readJson } from '../models/testing.js';
import { releaseAllSessions } from '../onnx/runtime.js';
import { train } from './loop.js';
import { adapterDir, FIXTURES, fixtureModel, fixtureRows, localLora, relL2 } from './testing.js';

afterAll(releaseAllSessions);

interface Adamw5 {
  losses: number[];
  final_loss: number;
}

describe('AdamW against the PyTorch fixture', () => {
  it('reproduces five full-batch steps: losses and the trained adapter', async () => {
    const expected = await readJson<Adamw5>(join(FIXTURES, 'expected', 'tiny-qwen2-lora-zeroB.adamw5.json'));
    const model = await fixtureModel();
    const rows = await fixtureRows();
    const method = await localLora(adapterDir('tiny-qwen2-lora-zeroB'));
    const logs: number[] = [];
    const r = await train({
      model,
      method,
      train: rows,
      validation: rows,
      hyperparameters: {
        maxSteps: 5,
        lr: 0.01,
        batchSize: rows.length,
        optimizer: 'adamw',
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: 0,
        scheduler: 'constant',
        shuffle: false,
        evalEvery: 5,
      },
      callbacks: { onLog: (e) => logs.push(e.loss) },
    });
    expect(r.losses.map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);
    const lossErr = r.losses.map((l, i) => Math.abs(l.loss / (expected.losses[i] as number) - 1));
    for (const e of lossErr) expect(e).toBeLessThan(1e-4);
    expect(logs).toEqual(r.losses.map((l) => l.loss));
    // The loss after the last step, from the validation graph on the same rows.
    expect(Math.abs((r.valLosses[0]?.loss as number) / expected.final_loss - 1)).toBeLessThan(1e-4);

    const trained = await loadPeftAdapter(join(FIXTURES, 'expected', 'tiny-qwen2-lora-zeroB.adamw5'));
    expect([...method.params.keys()].sort()).toEqual([...trained.tensors.keys()].sort());
    let worst = 0;
    for (const [k, t] of trained.tensors) {
      const err = relL2(method.params.get(k)?.data as Float32Array, t.data as Float32Array);
      worst = Math.max(worst, err);
    }
    expect(worst).toBeLessThan(1e-4);
    console.log(
      `adamw5: max loss rel err ${Math.max(...lossErr).toExponential(2)}, final loss rel err ${Math.abs((r.valLosses[0]?.loss as number) / expected.final_loss - 1).toExponential(2)}, max tensor rel L2 ${worst.toExponential(2)}, ${(r.stepSeconds * 1000).toFixed(1)} ms/step`,
    );
  });
});
