// Gradient checkpointing: the recomputing training graph gives the loss and gradients of the plain one, and its
// backward reads no value computed inside a decoder block except the block's outputs (its checkpoints).

import { afterAll, describe, expect, it } from 'vitest';
import type { Graph, Node } from '../onnx/ir.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { activationSegment, blockSegment, buildTrainGraphs } from './graphs.js';
import { batchFeeds } from './step.js';
import { adapterDir, fixtureModel, fixtureRows, localLora, relL2 } from './testing.js';

afterAll(releaseAllSessions);

/** Forward values made inside a segment that the backward reads although no forward node outside it does. */
function leakedActivations(g: Graph, segmentOf: (n: Node) => string | null = blockSegment): string[] {
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const readOutside = new Set<string>();
  for (const n of g.nodes) {
    if (n.name.startsWith('grad/')) continue;
    for (const i of n.inputs) {
      const p = producer.get(i);
      if (p !== undefined && segmentOf(p) !== segmentOf(n)) readOutside.add(i);
    }
  }
  const leaked = new Set<string>();
  for (const n of g.nodes.filter((m) => m.name.startsWith('grad/'))) {
    for (const i of n.inputs) {
      const p = producer.get(i);
      if (p === undefined || p.name.startsWith('grad/') || segmentOf(p) === null) continue;
      if (!readOutside.has(i)) leaked.add(i);
    }
  }
  return [...leaked];
}

describe.each(['tiny-qwen2', 'tiny-gpt2'])('%s gradient checkpointing', (name) => {
  it('same loss and LoRA gradients; the backward keeps only block outputs', async () => {
    const model = await fixtureModel(name);
    const method = await localLora(adapterDir(name === 'tiny-gpt2' ? 'tiny-gpt2-lora' : 'tiny-qwen2-lora'));
    const rows = (await fixtureRows()).slice(0, 4);
    const { feeds } = batchFeeds(rows, 0);
    for (const [k, t] of method.params) feeds[k] = t;
    const plain = buildTrainGraphs(model, method);
    const ckpt = buildTrainGraphs(model, method, { gradientCheckpointing: true });
    const names = Object.keys(plain.gradients);
    const run = (g: Graph, grads: Record<string, string>) =>
      runGraph(g, feeds, ['loss_sum', ...names.map((n) => grads[n] as string)]);
    const a = await run(plain.train, plain.gradients);
    const b = await run(ckpt.train, ckpt.gradients);
    expect((b.loss_sum?.data as Float32Array | undefined)?.[0]).toBe(
      (a.loss_sum?.data as Float32Array | undefined)?.[0],
    );
    expect(a.loss_sum).toBeDefined();
    let worst = 0;
    for (const n of names) {
      worst = Math.max(
        worst,
        relL2(
          b[ckpt.gradients[n] as string]?.data as Float32Array,
          a[plain.gradients[n] as string]?.data as Float32Array,
        ),
      );
    }
    expect(worst).toBeLessThan(1e-6);
    expect(leakedActivations(plain.train).length).toBeGreaterThan(10); // the check sees what it looks for
    expect(leakedActivations(ckpt.train)).toEqual([]);
    const recomputed = ckpt.train.nodes.filter((n) => n.name.includes('/recompute/')).length;
    console.log(`${name}: ${recomputed} recomputed nodes, gradient rel L2 vs plain ${worst.toExponential(2)}`);
    expect(recomputed).toBeGreaterThan(20);
    // Without checkpointing the MLP activation's intermediates are still recomputed, not kept.
    expect(plain.train.nodes.some((n) => activationSegment(n) !== null)).toBe(true);
    expect(leakedActivations(plain.train, activationSegment)).toEqual([]);
    expect(plain.train.nodes.some((n) => n.name.includes('/recompute/'))).toBe(true);
  });
});
