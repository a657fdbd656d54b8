// The attention probabilities are recomputed in the backward, not kept: no backward node reads a forward
// Softmax output, and the gradients equal those of the graph that keeps them.

import { afterAll, describe, expect, it } from 'vitest';
import type { Graph, TensorData } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { attentionSegment, buildTrainGraphs } from './graphs.js';
import { batchFeeds } from './step.js';
import { adapterDir, fixtureModel, fixtureRows, localLora, relL2 } from './testing.js';

afterAll(releaseAllSessions);

/** Backward nodes reading a forward Softmax's output (the probabilities kept alive into the backward). */
function probsReadByBackward(g: Graph): string[] {
  const probs = new Set(
    g.nodes.filter((n) => n.opType === 'Softmax' && !n.name.startsWith('grad/')).flatMap((n) => n.outputs),
  );
  return g.nodes.filter((n) => n.name.startsWith('grad/') && n.inputs.some((i) => probs.has(i))).map((n) => n.name);
}

/** Nodes none of whose outputs is read or a graph output (onnxruntime would still run them). */
function deadNodes(g: Graph): string[] {
  const used = new Set(g.outputs.map((o) => o.name));
  for (const n of g.nodes) for (const i of n.inputs) used.add(i);
  return g.nodes.filter((n) => !n.outputs.some((o) => o !== '' && used.has(o))).map((n) => n.name);
}

describe.each(['tiny-qwen2', 'tiny-gpt2'])('%s attention probabilities', (name) => {
  it('are recomputed in the backward, with the gradients of the graph that keeps them', async () => {
    const model = await fixtureModel(name);
    const method = await localLora(adapterDir(name === 'tiny-gpt2' ? 'tiny-gpt2-lora' : 'tiny-qwen2-lora'));
    const train = buildTrainGraphs(model, method);
    expect(train.train.nodes.some((n) => attentionSegment(n) !== null)).toBe(true);
    expect(probsReadByBackward(train.train)).toEqual([]);
    expect(train.train.nodes.filter((n) => n.name.includes('/recompute/') && n.opType === 'Softmax').length).toBe(
      model.config.numLayers,
    );
    expect(deadNodes(train.train)).toEqual([]);

    // The same forward with only the MLP activation recomputed: it keeps the probabilities.
    const kept = buildTrainGraphs(model, method, { recomputeAttention: false });
    expect(probsReadByBackward(kept.train).length).toBeGreaterThan(0); // the check sees what it looks for

    const { feeds } = batchFeeds((await fixtureRows()).slice(0, 4), 0);
    for (const [k, t] of method.params) feeds[k] = t;
    const names = Object.keys(train.gradients);
    const run = (g: Graph, grads: Record<string, string>) =>
      runGraph(g, feeds, ['loss_sum', ...names.map((n) => grads[n] as string)]);
    const a = await run(kept.train, kept.gradients);
    const b = await run(train.train, train.gradients);
    const lossOf = (r: Record<string, TensorData>): number => {
      const t = r.loss_sum;
      if (t === undefined) throw new Error('no loss_sum');
      return (t.data as Float32Array)[0] as number;
    };
    expect(lossOf(b)).toBe(lossOf(a));
    let worst = 0;
    for (const n of names) {
      const ga = a[kept.gradients[n] as string]?.data as Float32Array;
      const gb = b[train.gradients[n] as string]?.data as Float32Array;
      worst = Math.max(worst, relL2(gb, ga));
    }
    expect(worst).toBeLessThan(1e-6);
  });
});
