// QLoRA beyond LoRA: DoRA (which reads the weight for its norm) and IA3 (which scales a feed-forward input) train
// on a quantized base with the loss and gradients of the float model of the dequantized weights.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { FIXTURES } from '../models/testing.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { makeIa3Config } from '../peft/ia3/config.js';
import { makeLoraConfig } from '../peft/lora/config.js';
import { getMethod } from '../peft/registry.js';
import { buildTrainGraphs } from '../train/graphs.js';
import { batchFeeds } from '../train/step.js';
import { fixtureRows, relL2 } from '../train/testing.js';
import { dequantizedWeights, quantizeModel } from './quantize.js';

afterAll(releaseAllSessions);

const CASES = [
  {
    name: 'dora',
    method: 'lora',
    config: makeLoraConfig({ r: 4, useDora: true, targetModules: ['q_proj', 'down_proj'] }),
  },
  { name: 'ia3', method: 'ia3', config: makeIa3Config({}) },
] as const;

describe.each(CASES)('$name on an int4 base', ({ method, config }) => {
  it('gradients equal those on the dequantized float base', async () => {
    const dir = join(FIXTURES, 'models', 'tiny-qwen2');
    const { config: mc, weights } = await loadModelDir(dir, { dtype: 'float32' });
    // apply() sees the weights the quantized model computes with (DoRA's magnitude starts from their norm)
    const q = quantizeModel(mc, weights, { mode: 'int4', blockSize: 32 });
    const deq = dequantizedWeights(q);
    const rows = (await fixtureRows()).slice(0, 4);
    const run = async (quantized: boolean) => {
      const applied = getMethod(method).apply({ config: mc, weights: deq, dir }, config as never, { seed: 1 });
      // a non-zero update so that every gradient is non-trivial
      for (const t of applied.params.values()) {
        const d = t.data as Float32Array;
        for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) + 0.01 * Math.sin(i);
      }
      const model = quantized
        ? { config: mc, weights: q.weights, quantized: q.quantized }
        : { config: mc, weights: deq };
      const g = buildTrainGraphs(model, applied);
      const { feeds } = batchFeeds(rows, 0);
      for (const [k, t] of applied.params) feeds[k] = t;
      const [bsz = 0, seq = 0] = feeds.input_ids?.dims ?? [];
      Object.assign(feeds, applied.stepFeeds?.(0, bsz * seq) ?? {});
      const names = Object.keys(g.gradients);
      const out = await runGraph(
        g.train,
        feeds,
        names.map((n) => g.gradients[n] as string),
      );
      return names.map((n) => out[g.gradients[n] as string]?.data as Float32Array);
    };
    const a = await run(true);
    const b = await run(false);
    const worst = Math.max(...a.map((x, i) => relL2(x, b[i] as Float32Array)));
    expect(worst).toBeLessThan(1e-4);
  });
});
