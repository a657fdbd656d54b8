// Gradient check of one full training step: the window gradient the loop applies (training graph, gradient of
// the summed NLL per micro-batch, added over a 2-micro-batch window and divided by the window's loss tokens)
// against central finite differences of the window's token-mean loss computed by the validation graph (the
// forward alone, a separate session).
//
// The forward runs in float32, so the differences use a large step (h = 1e-2) along directions where the
// loss moves a lot: the loss is accurate to ~1e-6 absolute, giving ~5e-5 absolute noise on a difference
// quotient, and the O(h²) truncation error is of the same order. Tolerance: 1e-3 relative on a directional
// derivative mixing the gradient direction with a random one, and 2e-3 relative + 1e-4 absolute on single
// coordinates (the largest gradient entries of one LoRA A and one LoRA B).

import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../data/batches.js';
import { CAUSAL_LM_NAMES as N } from '../models/causal-lm.js';
import type { TensorData } from '../onnx/ir.js';
import { createSession, releaseAllSessions } from '../onnx/runtime.js';
import { buildTrainGraphs } from './graphs.js';
import { batchFeeds, scalarOf, windowGradient } from './step.js';
import { adapterDir, fixtureModel, fixtureRows, localLora } from './testing.js';

afterAll(releaseAllSessions);

describe('gradient of a training step', () => {
  it('matches central finite differences of the forward loss', async () => {
    const model = await fixtureModel();
    const rows = await fixtureRows();
    const method = await localLora(adapterDir('tiny-qwen2-lora'));
    const graphs = buildTrainGraphs(model, method);
    const trainS = await createSession(graphs.train);
    const evalS = await createSession(graphs.eval);
    const window = [rows.slice(0, 1), rows.slice(1, 4)]; // unequal micro-batches: the token-mean rule matters
    const w = await windowGradient(trainS, graphs.gradients, method.params, window);

    const lossAt = async (params: ReadonlyMap<string, TensorData>): Promise<number> => {
      let sum = 0;
      let tokens = 0;
      for (const mb of window) {
        const { feeds } = batchFeeds(mb, 0);
        for (const [k, t] of params) feeds[k] = t;
        const out = await evalS.run(feeds, [N.lossSum, N.lossTokens]);
        sum += scalarOf(out[N.lossSum]);
        tokens += scalarOf(out[N.lossTokens]);
      }
      return sum / tokens;
    };
    expect(Math.abs((await lossAt(method.params)) / w.loss - 1)).toBeLessThan(1e-6);

    // Parameters moved along `dir` (same names, same lengths) by ±h.
    const shifted = (dir: Map<string, Float64Array>, h: number) =>
      new Map(
        [...method.params].map(([k, t]) => {
          const d = dir.get(k) as Float64Array;
          const p = t.data as Float32Array;
          return [k, { ...t, data: Float32Array.from(p, (x, i) => x + h * (d[i] as number)) }];
        }),
      );
    const central = async (dir: Map<string, Float64Array>, h: number) =>
      ((await lossAt(shifted(dir, h))) - (await lossAt(shifted(dir, -h)))) / (2 * h);

    // Directional derivative along u = ĝ + r̂ (r random), normalised.
    const rnd = seededRandom(3);
    let gn = 0;
    let rn = 0;
    const r = new Map([...w.grads].map(([k, g]) => [k, Float64Array.from(g, () => rnd() - 0.5)]));
    for (const [k, g] of w.grads) {
      for (const x of g) gn += x * x;
      for (const x of r.get(k) as Float64Array) rn += x * x;
    }
    const u = new Map(
      [...w.grads].map(([k, g]) => {
        const rk = r.get(k) as Float64Array;
        return [k, Float64Array.from(g, (x, i) => x / Math.sqrt(gn) + (rk[i] as number) / Math.sqrt(rn))];
      }),
    );
    let un = 0;
    for (const a of u.values()) for (const x of a) un += x * x;
    for (const a of u.values()) for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) / Math.sqrt(un);
    let analytic = 0;
    for (const [k, g] of w.grads) {
      const a = u.get(k) as Float64Array;
      for (let i = 0; i < g.length; i++) analytic += (g[i] as number) * (a[i] as number);
    }
    const numeric = await central(u, 1e-2);
    const dirErr = Math.abs(numeric - analytic) / Math.abs(analytic);
    expect(dirErr).toBeLessThan(1e-3);

    // Single coordinates: the largest entries of one A and one B.
    const coordErrs: string[] = [];
    for (const key of [...w.grads.keys()].filter((k) => k.includes('layers.1.mlp.down_proj'))) {
      const g = w.grads.get(key) as Float32Array;
      let at = 0;
      for (let i = 0; i < g.length; i++) if (Math.abs(g[i] as number) > Math.abs(g[at] as number)) at = i;
      const e = new Map([...w.grads].map(([k, x]) => [k, new Float64Array(x.length)]));
      (e.get(key) as Float64Array)[at] = 1;
      const fd = await central(e, 1e-2);
      const an = g[at] as number;
      coordErrs.push(
        `${key.split('.').slice(-4, -1).join('.')}[${at}]: ${an.toExponential(4)} vs ${fd.toExponential(4)}`,
      );
      expect(Math.abs(fd - an)).toBeLessThan(2e-3 * Math.abs(an) + 1e-4);
    }
    console.log(
      `gradcheck: directional ${analytic.toExponential(5)} vs ${numeric.toExponential(5)} (rel ${dirErr.toExponential(2)}); ${coordErrs.join('; ')}`,
    );
    await trainS.release();
    await evalS.release();
  });
});
