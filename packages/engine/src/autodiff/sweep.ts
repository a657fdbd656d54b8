// The reverse sweep. It marks the values that depend on a `wrt` tensor (forward, stopping at
// non-differentiable ops and non-float values), keeps those from which the loss is reachable (backward), and
// visits exactly those nodes in reverse order, asking each op's rule for its input gradients and summing
// fan-out with Add. The result is one graph: forward, backward, gradients as outputs.

import { GraphBuilder } from '../onnx/builder.js';
import { isFloat } from '../onnx/dtypes.js';
import type { Graph, Initializer, Node, TensorData, Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { shapeOf, zerosLike } from './emit.js';
import { AutodiffError, NoGradientRuleError } from './errors.js';
import type { GradContext, RuleEntry } from './rules/context.js';
import { isNonDifferentiable, lookupRule } from './rules/table.js';

/** Lowest opset the backward ops need (ScatterElements/ScatterND with reduction='add'). */
export const MIN_OPSET = 16;

export interface GradientOptions {
  /** Name of the loss value. Its gradient seed is ones of its shape (a scalar loss: 1). */
  readonly loss: string;
  /** Trainable initialisers or graph inputs to differentiate with respect to. */
  readonly wrt: readonly string[];
  readonly seed?: 'ones';
  /** Give a `wrt` tensor that does not reach the loss a zero gradient instead of failing. */
  readonly allowUnused?: boolean;
  /**
   * Gradient checkpointing: the segment (e.g. a decoder block) a forward node belongs to, or null. The backward
   * of a segment reads none of the segment's forward values: it recomputes them from the values entering the
   * segment (its checkpoint), after the gradient has reached it. Nodes with random outputs are never recomputed.
   */
  readonly recompute?: (node: Node) => string | null;
}

export interface GradientGraph {
  /** Forward plus backward. `wrt` initialisers are graph inputs here; the loss and every gradient are outputs. */
  readonly graph: Graph;
  /** wrt name -> name of its gradient output (`grad:<name>`). */
  readonly gradients: Record<string, string>;
}

export const gradientName = (name: string): string => `grad:${name}`;

export function buildGradientGraph(forward: Graph, opts: GradientOptions): GradientGraph {
  if (forward.opset < MIN_OPSET) {
    throw new AutodiffError(
      'bad-opset',
      `graph '${forward.name}' has opset ${forward.opset}; the backward needs >= ${MIN_OPSET}`,
    );
  }
  const inits = new Map(forward.initializers.map((i) => [i.name, i]));
  const wrt = checkWrt(forward, inits, opts.wrt);
  const loss = forward.values.get(opts.loss);
  if (loss === undefined)
    throw new AutodiffError('bad-loss', `loss '${opts.loss}' is not a value of graph '${forward.name}'`);
  if (!isFloat(loss.dtype))
    throw new AutodiffError('bad-loss', `loss '${loss.name}' is ${loss.dtype}, not floating point`);

  const active = dependsOnWrt(forward, wrt);
  if (!active.has(loss.name)) {
    throw new AutodiffError(
      'bad-loss',
      `loss '${loss.name}' does not depend on any of ${wrt.map((w) => `'${w.name}'`).join(', ')}`,
    );
  }
  const { needed, onPath } = pathToLoss(forward, active, loss.name);
  const unused = wrt.filter((w) => !needed.has(w.name));
  if (unused.length > 0 && opts.allowUnused !== true) {
    throw new AutodiffError(
      'unused-wrt',
      `${unused.map((w) => `'${w.name}'`).join(', ')} do(es) not reach loss '${loss.name}'`,
    );
  }
  const rules = rulesFor(forward, onPath);
  const withSaves = exposeSavedOutputs(forward, onPath, rules);

  const b = GraphBuilder.extend(withSaves, 'grad');
  const grads = new Map<string, Value>();
  grads.set(loss.name, seed(b, loss));
  const recomputer = new Recomputer(b, withSaves, inits, opts.recompute);
  for (let n = withSaves.nodes.length - 1; n >= 0; n--) {
    if (!onPath[n]) continue;
    const node = withSaves.nodes[n] as Node;
    if (!node.outputs.some((o) => grads.has(o))) continue;
    const rule = rules.get(n) as RuleEntry;
    const ctx = makeContext(b, withSaves, node, grads, needed, inits, wrt, recomputer, n);
    const result = b.scope(node.name, () => rule.grad(ctx));
    node.inputs.forEach((name, i) => {
      const g = result[i];
      if (g === null || g === undefined || !ctx.needs(i)) return;
      const x = b.value(name);
      if (g.dtype !== x.dtype) ctx.unsupported(`rule returned a ${g.dtype} gradient for ${x.dtype} input '${name}'`);
      const prev = grads.get(name);
      grads.set(name, prev === undefined ? g : b.scope(node.name, () => ops.add(b, prev, g)));
    });
  }

  const gradients: Record<string, string> = {};
  for (const w of wrt) {
    const g = grads.get(w.name) ?? zerosLike(b, w);
    const out = b.op1('Identity', [g], {}, { names: [gradientName(w.name)], dtypes: [w.dtype], shapes: [w.shape] });
    b.output(out);
    gradients[w.name] = out.name;
  }
  if (!forward.outputs.some((o) => o.name === loss.name)) b.output(loss);

  const built = pruneDeadBackward(b.build(), withSaves.nodes.length);
  const fed = new Set(wrt.filter((w) => inits.has(w.name)).map((w) => w.name));
  const graph: Graph = {
    ...built,
    inputs: [...built.inputs, ...wrt.filter((w) => fed.has(w.name))],
    initializers: built.initializers.filter((i) => !fed.has(i.name)),
  };
  return { graph, gradients };
}

/**
 * Drops the backward nodes (from index `first` on) whose outputs reach no graph output: e.g. the recomputed
 * clone of a segment's last node, which a rule of that segment read only for its static shape (the MatMul and
 * broadcasting rules take their output's shape), with the gates feeding it. onnxruntime runs every node of a
 * graph, used or not. The forward's nodes stay: no backward node feeds them.
 */
function pruneDeadBackward(g: Graph, first: number): Graph {
  const live = new Set(g.outputs.map((o) => o.name));
  const dead = new Set<number>();
  for (let n = g.nodes.length - 1; n >= first; n--) {
    const node = g.nodes[n] as Node;
    if (node.outputs.some((o) => o !== '' && live.has(o))) for (const i of node.inputs) live.add(i);
    else dead.add(n);
  }
  if (dead.size === 0) return g;
  const values = new Map(g.values);
  for (const n of dead) for (const o of (g.nodes[n] as Node).outputs) values.delete(o);
  return { ...g, nodes: g.nodes.filter((_, n) => !dead.has(n)), values };
}

function checkWrt(forward: Graph, inits: ReadonlyMap<string, Initializer>, names: readonly string[]): Value[] {
  if (names.length === 0) throw new AutodiffError('bad-wrt', 'wrt is empty: nothing to differentiate');
  const inputs = new Set(forward.inputs.map((v) => v.name));
  const seen = new Set<string>();
  return names.map((name) => {
    if (seen.has(name)) throw new AutodiffError('bad-wrt', `wrt names '${name}' twice`);
    seen.add(name);
    const init = inits.get(name);
    if (init === undefined && !inputs.has(name)) {
      throw new AutodiffError(
        'bad-wrt',
        `wrt '${name}' is neither an initialiser nor an input of graph '${forward.name}'`,
      );
    }
    if (init !== undefined && !init.trainable) {
      throw new AutodiffError('bad-wrt', `wrt '${name}' is a frozen initialiser (not marked trainable)`);
    }
    const v = forward.values.get(name);
    if (v === undefined) throw new AutodiffError('bad-wrt', `wrt '${name}' has no recorded dtype/shape`);
    if (!isFloat(v.dtype)) throw new AutodiffError('bad-wrt', `wrt '${name}' is ${v.dtype}, not floating point`);
    return v;
  });
}

/** Values that depend on a wrt tensor through differentiable ops and float values. */
function dependsOnWrt(forward: Graph, wrt: readonly Value[]): Set<string> {
  const active = new Set(wrt.map((w) => w.name));
  const defined = new Set([...forward.inputs.map((v) => v.name), ...forward.initializers.map((i) => i.name)]);
  for (const node of forward.nodes) {
    for (const i of node.inputs) {
      if (i !== '' && !defined.has(i)) {
        throw new AutodiffError(
          'unsupported',
          `node '${node.name}' reads '${i}' before it is produced (nodes must be in topological order)`,
        );
      }
    }
    node.outputs.forEach((o) => {
      if (o !== '') defined.add(o);
    });
    if (isNonDifferentiable(node.domain, node.opType)) continue;
    if (!node.inputs.some((i) => active.has(i))) continue;
    for (const o of node.outputs) {
      if (o === '') continue;
      const v = forward.values.get(o);
      if (v === undefined || isFloat(v.dtype)) active.add(o);
    }
  }
  return active;
}

/** Of the active values, those the loss depends on; and the nodes that produce them. */
function pathToLoss(
  forward: Graph,
  active: ReadonlySet<string>,
  loss: string,
): { needed: Set<string>; onPath: boolean[] } {
  const needed = new Set([loss]);
  const onPath = forward.nodes.map(() => false);
  for (let n = forward.nodes.length - 1; n >= 0; n--) {
    const node = forward.nodes[n] as Node;
    if (!node.outputs.some((o) => o !== '' && needed.has(o) && active.has(o))) continue;
    onPath[n] = true;
    for (const i of node.inputs) if (active.has(i)) needed.add(i);
  }
  return { needed, onPath };
}

/** The rule of every node on the path; all missing rules are reported at once. */
function rulesFor(forward: Graph, onPath: readonly boolean[]): Map<number, RuleEntry> {
  const rules = new Map<number, RuleEntry>();
  const missing: Node[] = [];
  forward.nodes.forEach((node, n) => {
    if (!onPath[n]) return;
    const rule = lookupRule(node.domain, node.opType);
    if (rule === undefined) missing.push(node);
    else rules.set(n, rule);
  });
  const first = missing[0];
  if (first !== undefined) {
    const err = new NoGradientRuleError(first.opType, first.domain, first.name);
    if (missing.length > 1) {
      const others = [...new Set(missing.slice(1).map((m) => `${m.domain === '' ? '' : `${m.domain}.`}${m.opType}`))];
      err.message += `; also missing: ${others.join(', ')}`;
    }
    throw err;
  }
  return rules;
}

/**
 * Adds the outputs rules reuse (a norm's statistics, dropout's mask) to forward nodes that did not declare
 * them. The forward kernels compute them anyway; exposing them saves the backward a recomputation.
 */
function exposeSavedOutputs(forward: Graph, onPath: readonly boolean[], rules: ReadonlyMap<number, RuleEntry>): Graph {
  const values = new Map(forward.values);
  let changed = false;
  const nodes = forward.nodes.map((node, n) => {
    const saves = onPath[n] ? rules.get(n)?.saves : undefined;
    if (saves === undefined) return node;
    const outputs = [...node.outputs];
    const input0 = values.get(node.inputs[0] ?? '');
    for (const s of saves) {
      if ((outputs[s.index] ?? '') !== '') continue;
      const dtype = s.dtype(input0?.dtype ?? 'float32');
      if (dtype === null) continue;
      while (outputs.length <= s.index) outputs.push('');
      let name = `${node.name}.saved${s.index}`;
      while (values.has(name)) name += '_';
      values.set(name, { name, dtype, shape: undefined });
      outputs[s.index] = name;
      changed = true;
    }
    return { ...node, outputs };
  });
  return changed ? { ...forward, nodes, values } : forward;
}

function seed(b: GraphBuilder, loss: Value): Value {
  if (loss.shape !== undefined && loss.shape.length === 0) return ops.scalar(b, 1, loss.dtype, 'seed');
  return ops.constantOfShape(b, shapeOf(b, loss), 1, loss.dtype, loss.shape);
}

function makeContext(
  b: GraphBuilder,
  graph: Graph,
  node: Node,
  grads: ReadonlyMap<string, Value>,
  needed: ReadonlySet<string>,
  inits: ReadonlyMap<string, Initializer>,
  wrt: readonly Value[],
  recomputer: Recomputer,
  index: number,
): GradContext {
  const where = `${node.domain === '' ? '' : `${node.domain}.`}${node.opType} node '${node.name}'`;
  const unsupported = (why: string): never => {
    throw new AutodiffError('unsupported', `${where}: ${why}`);
  };
  const wrtNames = new Set(wrt.map((w) => w.name));
  const gateRef = (): Value => {
    const g = node.outputs.map((o) => grads.get(o)).find((v): v is Value => v !== undefined);
    return g ?? unsupported('no output gradient to order the backward after');
  };
  const read = (name: string): Value => recomputer.read(name, index, gateRef);
  const constant = (i: number): TensorData | undefined => {
    const name = node.inputs[i] ?? '';
    if (name === '' || wrtNames.has(name)) return undefined;
    const init = inits.get(name);
    if (init !== undefined) return init.tensor;
    const producer = graph.nodes.find((n) => n.opType === 'Constant' && n.domain === '' && n.outputs[0] === name);
    const a = producer?.attrs.value;
    return a?.type === 'tensor' ? a.value : undefined;
  };
  const attrOf = (name: string) => node.attrs[name];
  return {
    node,
    b,
    opset: graph.opset,
    I: (i) => {
      const name = node.inputs[i] ?? '';
      if (name === '') unsupported(`input ${i} is absent`);
      return read(name);
    },
    hasInput: (i) => (node.inputs[i] ?? '') !== '',
    O: (i) => {
      const name = node.outputs[i] ?? '';
      if (name === '') unsupported(`output ${i} is absent`);
      return read(name);
    },
    hasOutput: (i) => (node.outputs[i] ?? '') !== '',
    GO: (i) => grads.get(node.outputs[i] ?? '') ?? null,
    needs: (i) => needed.has(node.inputs[i] ?? ''),
    attrInt: (name, fallback) => {
      const a = attrOf(name);
      return a?.type === 'int' ? a.value : fallback;
    },
    attrFloat: (name, fallback) => {
      const a = attrOf(name);
      return a?.type === 'float' ? a.value : fallback;
    },
    attrInts: (name) => {
      const a = attrOf(name);
      return a?.type === 'ints' ? a.value : undefined;
    },
    attrString: (name, fallback) => {
      const a = attrOf(name);
      return a?.type === 'string' ? a.value : fallback;
    },
    constant,
    constInts: (i) => {
      const t = constant(i);
      if (t === undefined || isFloat(t.dtype) || t.dtype === 'bool') return undefined;
      return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
    },
    after: (v) => gate(b, v, gateRef()),
    unsupported,
  };
}

/**
 * `v` made to depend on `ref` at no cost: Squeeze(Unsqueeze(v, axes), axes) with axes = [0·Size(ref)]. Both are
 * views; the int64 arithmetic is a scalar. onnxruntime then cannot run what reads the result before `ref`
 * exists, nor merge it with the same computation on `v` itself (common-subexpression elimination). (A Reshape
 * to Shape(v) + 0 was tried first: onnxruntime's reshape fusion rewrote it into an invalid graph.)
 */
function gate(b: GraphBuilder, v: Value, ref: Value): Value {
  const zero = ops.mul(b, b.op1('Size', [ref], {}, { dtypes: ['int64'], shapes: [[]] }), 0);
  const axes = ops.unsqueeze(b, zero, [0]); // [1] = [0], known only at run time
  const up = b.op1('Unsqueeze', [v, axes], {}, { shapes: [v.shape === undefined ? undefined : [1, ...v.shape]] });
  return b.op1('Squeeze', [up, axes], {}, { shapes: [v.shape] });
}

const RANDOM_OPS = new Set([
  'Dropout',
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
]);

/**
 * Serves the forward values rules read. A value produced in a recomputed segment, read by a rule of the same
 * segment, is recomputed: its producer is cloned (recursively within the segment) into the backward, with the
 * values entering the segment gated on the gradient. A DequantizeLinear of constants (a quantized frozen weight)
 * is its own segment and always recomputed, so the forward's float weight never lives until the backward.
 */
class Recomputer {
  private readonly producer = new Map<string, number>();
  private readonly segments: (string | null)[];
  private readonly clones = new Map<number, string[]>();
  private readonly gated = new Map<string, Value>();

  constructor(
    private readonly b: GraphBuilder,
    private readonly graph: Graph,
    inits: ReadonlyMap<string, Initializer>,
    segmentOf: ((node: Node) => string | null) | undefined,
  ) {
    graph.nodes.forEach((node, n) => {
      for (const o of node.outputs) if (o !== '') this.producer.set(o, n);
    });
    this.segments = graph.nodes.map((node) => {
      if (node.domain !== '' && node.domain !== 'ai.onnx') return segmentOf?.(node) ?? null;
      if (RANDOM_OPS.has(node.opType)) return null;
      if (node.opType === 'DequantizeLinear' && node.inputs.every((i) => i === '' || inits.has(i))) {
        return `dq:${node.name}`;
      }
      return segmentOf?.(node) ?? null;
    });
  }

  /** The value to use for forward value `name` in the backward of node `reader`. */
  read(name: string, reader: number, gateRef: () => Value): Value {
    const p = this.producer.get(name);
    const seg = p === undefined ? null : this.segments[p];
    if (p === undefined || seg === null || seg === undefined) return this.b.value(name);
    if (!seg.startsWith('dq:') && this.segments[reader] !== seg) return this.b.value(name);
    const node = this.graph.nodes[p] as Node;
    const outs = this.clone(p, seg, gateRef);
    return this.b.value(outs[node.outputs.indexOf(name)] as string);
  }

  private clone(n: number, seg: string, gateRef: () => Value): string[] {
    const hit = this.clones.get(n);
    if (hit !== undefined) return hit;
    const node = this.graph.nodes[n] as Node;
    const inputs = node.inputs.map((name, i) => {
      if (name === '') return null;
      const p = this.producer.get(name);
      if (p !== undefined && this.segments[p] === seg) {
        const src = this.graph.nodes[p] as Node;
        return this.b.value(this.clone(p, seg, gateRef)[src.outputs.indexOf(name)] as string);
      }
      // Entering values: activations from outside the segment, and a dequantized weight's stored data.
      if (p !== undefined || (seg.startsWith('dq:') && i === 0)) return this.gateOnce(name, seg, gateRef);
      return this.b.value(name);
    });
    const outs = node.outputs.map((o) => (o === '' ? undefined : this.graph.values.get(o)));
    const produced = this.b.scope(`recompute/${node.name}`, () =>
      this.b.op(node.opType, inputs, node.attrs, {
        domain: node.domain,
        outputs: node.outputs.length,
        dtypes: outs.map((v) => v?.dtype ?? 'float32'),
        shapes: outs.map((v) => v?.shape),
      }),
    );
    const names = produced.map((v) => v.name);
    this.clones.set(n, names);
    return names;
  }

  private gateOnce(name: string, seg: string, gateRef: () => Value): Value {
    const key = `${seg}|${name}`;
    let v = this.gated.get(key);
    if (v === undefined) {
      v = this.b.scope(`recompute/${seg}`, () => gate(this.b, this.b.value(name), gateRef()));
      this.gated.set(key, v);
    }
    return v;
  }
}
