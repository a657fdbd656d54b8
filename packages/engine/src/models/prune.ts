import type { Graph, Node } from '../onnx/ir.js';

/**
 * Drops nodes whose outputs reach no graph output, and the frozen initialisers only they read. An extension
 * that replaces a computed value (e.g. a linear hook that multiplies its own way) leaves such dead nodes.
 * Trainable initialisers are kept even when unused, so a gradient request for them fails by name, not silently.
 */
export function pruneGraph(g: Graph): Graph {
  const needed = new Set(g.outputs.map((v) => v.name));
  const kept: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i] as Node;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    kept.push(n);
    for (const x of n.inputs) if (x !== '') needed.add(x);
  }
  if (kept.length === g.nodes.length) return g;
  kept.reverse();
  const initializers = g.initializers.filter((t) => t.trainable || needed.has(t.name));
  const live = new Set([...needed, ...g.inputs.map((v) => v.name), ...initializers.map((t) => t.name)]);
  const values = new Map([...g.values].filter(([k]) => live.has(k)));
  return { ...g, nodes: kept, initializers, values };
}
