// The reverse sweep's contract: fan-out accumulation, only-path visiting, typed failures, what becomes an
// input and an output of the training graph, run-time shapes, and dropout's mask.

import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder.js';
import { attr, type Graph, type TensorData, type Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { AutodiffError, buildGradientGraph, NoGradientRuleError } from './index.js';

afterAll(async () => {
  await releaseAllSessions();
});

const f64 = (dims: number[], values: number[]): TensorData => ({
  dtype: 'float64',
  dims,
  data: Float64Array.from(values),
});
const f32 = (dims: number[], values: number[]): TensorData => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from(values),
});
const nums = (t: TensorData | undefined): number[] => Array.from(t?.data as Float64Array, Number);

/** Backward nodes emitted for forward node `name` (the sweep scopes them under it). */
const backwardOf = (g: Graph, name: string): number => g.nodes.filter((n) => n.name.startsWith(`grad/${name}/`)).length;

function expectClose(actual: number[], expected: number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    expect(Math.abs(a - (expected[i] as number))).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(expected[i] as number)),
    );
  });
}

describe('buildGradientGraph', () => {
  it('accumulates a value used twice with Add: d/dx Σ eˣ·x = eˣ(1 + x)', async () => {
    const b = new GraphBuilder('fanout');
    const x = b.initializer('x', f64([4], [-1, 0, 0.5, 2]), { trainable: true });
    b.output(ops.reduceSum(b, ops.mul(b, ops.exp(b, x), x), [], false), 'loss');
    const { graph, gradients } = buildGradientGraph(b.build(), { loss: 'loss', wrt: ['x'] });
    const mulNode = graph.nodes.find((n) => n.opType === 'Mul' && !n.name.startsWith('grad/')) as { name: string };
    const accumulations = graph.nodes.filter((n) => n.opType === 'Add' && n.name.startsWith('grad/'));
    expect(accumulations.length).toBe(1);
    expect(accumulations[0]?.name.startsWith('grad/')).toBe(true);
    expect(backwardOf(graph, mulNode.name)).toBeGreaterThan(0);
    const xs = [-1, 0, 0.5, 2];
    const out = await runGraph(graph, { x: f64([4], xs) });
    expectClose(
      nums(out[gradients.x as string]),
      xs.map((v) => Math.exp(v) * (1 + v)),
    );
  });

  it('visits only nodes on the path from wrt to the loss', () => {
    const b = new GraphBuilder('paths');
    const x = b.initializer('x', f64([3], [1, 2, 3]), { trainable: true });
    const c = b.initializer('c', f64([3], [4, 5, 6]));
    const side = ops.tanh(b, x); // depends on x but does not reach the loss
    b.output(side, 'side');
    const frozen = ops.exp(b, c); // reaches the loss but does not depend on x
    b.output(ops.reduceSum(b, ops.mul(b, ops.sigmoid(b, x), frozen), [], false), 'loss');
    const forward = b.build();
    const { graph } = buildGradientGraph(forward, { loss: 'loss', wrt: ['x'] });
    const byOp = (op: string): string => (forward.nodes.find((n) => n.opType === op) as { name: string }).name;
    expect(backwardOf(graph, byOp('Tanh'))).toBe(0);
    expect(backwardOf(graph, byOp('Exp'))).toBe(0);
    expect(backwardOf(graph, byOp('Sigmoid'))).toBeGreaterThan(0);
    // The Mul only needs the gradient of its x-side input: one product, not two.
    expect(graph.nodes.filter((n) => n.name.startsWith(`grad/${byOp('Mul')}/`) && n.opType === 'Mul').length).toBe(1);
  });

  it('fails with the op name when an op on the path has no rule, and ignores rule-less ops off the path', () => {
    const b = new GraphBuilder('norule');
    const x = b.initializer('x', f64([3], [1, 2, 3]), { trainable: true });
    const y = b.op1('Sin', [ops.cos(b, x)], {}, { shapes: [[3]] });
    b.output(ops.reduceSum(b, y, [], false), 'loss');
    const err = (() => {
      try {
        buildGradientGraph(b.build(), { loss: 'loss', wrt: ['x'] });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NoGradientRuleError);
    expect((err as NoGradientRuleError).code).toBe('no-rule');
    expect((err as Error).message).toMatch(/'Cos'/);
    expect((err as Error).message).toMatch(/also missing: Sin/);

    const b2 = new GraphBuilder('norule-off-path');
    const x2 = b2.initializer('x', f64([3], [1, 2, 3]), { trainable: true });
    b2.output(b2.op1('Sin', [x2], {}, { shapes: [[3]] }), 'off');
    b2.output(ops.reduceSum(b2, x2, [], false), 'loss');
    expect(() => buildGradientGraph(b2.build(), { loss: 'loss', wrt: ['x'] })).not.toThrow();
  });

  it('stops at non-differentiable ops instead of failing', async () => {
    const b = new GraphBuilder('nondiff');
    const x = b.initializer('x', f64([4], [-1, 2, -3, 4]), { trainable: true });
    const positive = ops.cast(b, ops.greater(b, x, 0), 'float64'); // piecewise constant in x
    b.output(ops.reduceSum(b, ops.mul(b, x, positive), [], false), 'loss');
    const { graph, gradients } = buildGradientGraph(b.build(), { loss: 'loss', wrt: ['x'] });
    const out = await runGraph(graph, { x: f64([4], [-1, 2, -3, 4]) });
    expect(nums(out[gradients.x as string])).toEqual([0, 1, 0, 1]);
  });

  it('feeds trainable wrt initialisers as inputs, keeps frozen ones baked, and outputs grad:<name>', async () => {
    const b = new GraphBuilder('frozen');
    const x = b.input('x', 'float32', ['batch', 3]);
    const w0 = b.initializer('w0', f32([3, 2], [1, 2, 3, 4, 5, 6]));
    const s = b.initializer('s', f32([3], [1, 1, 1]), { trainable: true });
    const other = b.initializer('other', f32([2], [0, 0]), { trainable: true }); // trainable but not asked for
    const h = ops.add(b, ops.matmul(b, ops.mul(b, x, s), w0), other);
    b.output(ops.reduceSum(b, h, [], false), 'loss');
    const forward = b.build();
    const { graph, gradients } = buildGradientGraph(forward, { loss: 'loss', wrt: ['s'] });
    expect(gradients).toEqual({ s: 'grad:s' });
    expect(graph.inputs.map((v) => v.name)).toEqual(['x', 's']);
    expect(graph.initializers.map((i) => i.name)).toContain('w0');
    expect(graph.initializers.map((i) => i.name)).toContain('other');
    expect(graph.initializers.map((i) => i.name)).not.toContain('s');
    expect(graph.outputs.map((v) => v.name)).toEqual(['loss', 'grad:s']);
    // No weight gradient for the frozen w0: the only product in the backward is dX = G·w0ᵀ (transB, no transA).
    const products = graph.nodes.filter(
      (n) => n.name.startsWith('grad/') && (n.opType === 'FusedMatMul' || n.opType === 'MatMul'),
    );
    expect(products.length).toBe(1);
    expect(products[0]?.attrs.transB).toEqual(attr.int(1));
    expect(graph.nodes.some((n) => n.opType === 'Transpose')).toBe(false);
    // d/ds Σ (x⊙s)·w0 = Σ_rows x ⊙ rowsum(w0); the fed s changes the loss but not this gradient.
    const xs = [1, 2, 3, -1, 0.5, 2];
    const out = await runGraph(graph, { x: f32([2, 3], xs), s: f32([3], [2, 2, 2]) });
    expectClose(nums(out['grad:s']), [(1 - 1) * 3, (2 + 0.5) * 7, (3 + 2) * 11], 1e-6);
    expect(nums(out.loss)[0]).toBeCloseTo(2 * (0 * 3 + 2.5 * 7 + 5 * 11), 4);

    expect(() => buildGradientGraph(forward, { loss: 'loss', wrt: ['w0'] })).toThrow(/frozen initialiser/);
  });

  it('reduces broadcast gradients with shapes known only at run time', async () => {
    const b = new GraphBuilder('dynamic');
    const x = b.input('x', 'float64', ['batch', 'seq', 3]);
    const bias = b.initializer('bias', f64([1, 3], [0.1, 0.2, 0.3]), { trainable: true });
    // A reshape to a run-time shape: the builder no longer knows the shape, so the unbroadcast must ask.
    const flat = ops.reshape(b, x, ops.shape(b, x));
    const y = ops.mul(b, ops.add(b, flat, bias), flat);
    b.output(ops.reduceSum(b, y, [], false), 'loss');
    const { graph, gradients } = buildGradientGraph(b.build(), { loss: 'loss', wrt: ['bias'] });
    expect(graph.nodes.some((n) => n.opType === 'NonZero')).toBe(true);
    for (const [batch, seq] of [
      [2, 3],
      [1, 1],
    ] as const) {
      const n = batch * seq;
      const xs = Array.from({ length: n * 3 }, (_, i) => Math.sin(i + batch));
      const out = await runGraph(graph, { x: f64([batch, seq, 3], xs), bias: f64([1, 3], [0.1, 0.2, 0.3]) });
      const expected = [0, 1, 2].map((j) => xs.filter((_, i) => i % 3 === j).reduce((a, v) => a + v, 0));
      expectClose(nums(out[gradients.bias as string]), expected);
    }
  });

  it('routes training-mode dropout gradients through the mask, scaled by 1/(1-ratio)', async () => {
    const b = new GraphBuilder('dropout');
    const x = b.initializer(
      'x',
      f32(
        [64],
        Array.from({ length: 64 }, (_, i) => i / 10),
      ),
      { trainable: true },
    );
    const ratio = ops.scalar(b, 0.25, 'float32');
    const training = b.constant({ dtype: 'bool', dims: [], data: Uint8Array.from([1]) }, 'training');
    const [y, mask] = b.op(
      'Dropout',
      [x, ratio, training],
      { seed: attr.int(7) },
      { outputs: 2, dtypes: ['float32', 'bool'], shapes: [[64], [64]] },
    ) as [Value, Value];
    const w = b.input('w', 'float32', [64]);
    b.output(mask, 'mask');
    b.output(ops.reduceSum(b, ops.mul(b, y, w), [], false), 'loss');
    const { graph, gradients } = buildGradientGraph(b.build(), { loss: 'loss', wrt: ['x'] });
    const ws = Array.from({ length: 64 }, (_, i) => Math.cos(i));
    const out = await runGraph(graph, {
      x: f32(
        [64],
        Array.from({ length: 64 }, (_, i) => i / 10),
      ),
      w: f32([64], ws),
    });
    const m = Array.from(out.mask?.data as Uint8Array);
    expect(m.some((v) => v === 0) && m.some((v) => v === 1)).toBe(true);
    expectClose(
      nums(out[gradients.x as string]),
      ws.map((wv, i) => (m[i] === 1 ? wv / 0.75 : 0)),
      1e-6,
    );
  });

  it('gives typed errors for bad loss, bad wrt, unused wrt and a low opset', () => {
    const make = (opset = 21): Graph => {
      const b = new GraphBuilder('errs', { opset });
      const x = b.initializer('x', f64([2], [1, 2]), { trainable: true });
      b.initializer('unused', f64([2], [1, 2]), { trainable: true });
      b.input('ids', 'int64', [2]);
      b.output(ops.reduceSum(b, ops.exp(b, x), [], false), 'loss');
      return b.build();
    };
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(AutodiffError);
        return (e as AutodiffError).code;
      }
      return undefined;
    };
    expect(code(() => buildGradientGraph(make(), { loss: 'nope', wrt: ['x'] }))).toBe('bad-loss');
    expect(code(() => buildGradientGraph(make(), { loss: 'loss', wrt: ['nope'] }))).toBe('bad-wrt');
    expect(code(() => buildGradientGraph(make(), { loss: 'loss', wrt: ['ids'] }))).toBe('bad-wrt');
    expect(code(() => buildGradientGraph(make(), { loss: 'loss', wrt: ['x', 'x'] }))).toBe('bad-wrt');
    expect(code(() => buildGradientGraph(make(), { loss: 'loss', wrt: ['unused'] }))).toBe('bad-loss');
    expect(code(() => buildGradientGraph(make(), { loss: 'loss', wrt: ['x', 'unused'] }))).toBe('unused-wrt');
    expect(code(() => buildGradientGraph(make(15), { loss: 'loss', wrt: ['x'] }))).toBe('bad-opset');
    const { gradients } = buildGradientGraph(make(), { loss: 'loss', wrt: ['x', 'unused'], allowUnused: true });
    expect(gradients.unused).toBe('grad:unused');
  });

  it('builds the same graph twice (deterministic names)', () => {
    const make = (): Graph => {
      const b = new GraphBuilder('det');
      const x = b.initializer('x', f64([2, 3], [1, 2, 3, 4, 5, 6]), { trainable: true });
      b.output(ops.reduceSum(b, ops.softmax(b, ops.mul(b, x, x), -1), [0], false), 'loss');
      return b.build();
    };
    const g1 = buildGradientGraph(make(), { loss: 'loss', wrt: ['x'] }).graph;
    const g2 = buildGradientGraph(make(), { loss: 'loss', wrt: ['x'] }).graph;
    expect(JSON.stringify(g1.nodes)).toBe(JSON.stringify(g2.nodes));
  });
});
