// Every op helper run in onnxruntime: values against plain-JS references, inferred shapes against the shapes
// onnxruntime actually produced (symbolic dims evaluated at the fed sizes).
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { evalDim } from './dims.js';
import { float16ToNumber } from './dtypes.js';
import type { TensorData, Value } from './ir.js';
import * as op from './ops.js';
import { releaseAllSessions, runGraph } from './runtime.js';

const B = 2;
const T = 3;
const D = 8;
const bind = { batch: B, seq: T };

afterAll(async () => {
  await releaseAllSessions();
});

function f32(dims: number[], fill: (i: number) => number): TensorData {
  const n = dims.reduce((a, c) => a * c, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, (_, i) => fill(i)) };
}

function nums(t: TensorData | undefined): number[] {
  if (t === undefined) throw new Error('missing output');
  if (t.data instanceof BigInt64Array) return Array.from(t.data, Number);
  if (t.dtype === 'float16') return Array.from(t.data as Uint16Array, float16ToNumber);
  return Array.from(t.data as ArrayLike<number>);
}

function close(actual: number[], expected: number[], tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  const worst = Math.max(0, ...actual.map((a, i) => Math.abs(a - (expected[i] as number))));
  expect(worst / scale).toBeLessThan(tol);
}

// erf to ~1e-7 (Abramowitz & Stegun 7.1.26 is only 1.5e-7, so use the series / continued fraction split).
function erf(x: number): number {
  const ax = Math.abs(x);
  let s = 0;
  let term = ax;
  for (let n = 0; n < 60; n++) {
    s += term / (2 * n + 1);
    term *= (-ax * ax) / (n + 1);
  }
  return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * s);
}

const xs = Array.from({ length: B * T * D }, (_, i) => Math.sin(1 + i * 0.7) * 2);
const ws = Array.from({ length: D * 4 }, (_, i) => Math.cos(i * 0.3));
const ids = [1, 2, 3, 4, 0, 5];
const xAt = (b: number, t: number, d: number): number => xs[(b * T + t) * D + d] as number;
const rows = (): number[][] => Array.from({ length: B * T }, (_, r) => xs.slice(r * D, r * D + D));

describe('op helpers in onnxruntime', () => {
  it('computes values and shapes that match references', async () => {
    const b = new GraphBuilder('ops');
    const x = b.input('x', 'float32', ['batch', 'seq', D]);
    const id = b.input('ids', 'int64', ['batch', 'seq']);
    const w = b.initializer(
      'w',
      f32([D, 4], (i) => ws[i] as number),
    );
    const wt = b.initializer(
      'wt',
      f32([4, D], (i) => ws[(i % D) * 4 + Math.floor(i / D)] as number),
    );
    const g = b.initializer(
      'g',
      f32([D], (i) => 1 + i / 10),
    );
    const beta = b.initializer(
      'beta',
      f32([D], (i) => i / 20),
    );
    const emb = b.initializer(
      'emb',
      f32([10, D], (i) => i / 7),
    );
    const bias4 = b.initializer(
      'bias4',
      f32([4], (i) => i - 1),
    );
    const outs: Record<string, Value> = {};
    const out = (name: string, v: Value): void => {
      outs[name] = b.output(v, name);
    };

    out('add', op.add(b, x, 1.5));
    out('sub', op.sub(b, 1, x));
    out('mul', op.mul(b, x, g));
    out('div', op.div(b, x, 4));
    out('neg', op.neg(b, x));
    out('exp', op.exp(b, x));
    out('log', op.log(b, op.add(b, op.abs(b, x), 1)));
    out('sqrt', op.sqrt(b, op.abs(b, x)));
    out('reciprocal', op.reciprocal(b, op.add(b, op.abs(b, x), 1)));
    out('pow', op.pow(b, x, 2));
    out('tanh', op.tanh(b, x));
    out('sigmoid', op.sigmoid(b, x));
    out('relu', op.relu(b, x));
    out('erf', op.erf(b, x));
    out('max', op.max(b, x, 0.5));
    const logits = op.matmul(b, x, w);
    out('matmul', logits);
    out('fused', op.fusedMatMul(b, x, wt, { transB: true, alpha: 0.5 }));
    const flat = op.reshape(b, x, [-1, D]);
    out('reshape', flat);
    out('gemm', op.gemm(b, flat, w, bias4, { alpha: 2, beta: 0.5 }));
    out('transpose', op.transpose(b, x, [0, 2, 1]));
    out('unsqueeze', op.unsqueeze(b, id, [1]));
    out('squeeze', op.squeeze(b, op.unsqueeze(b, id, [-1]), [-1]));
    out('concat', op.concat(b, [x, x], 1));
    out('sliceShift', op.slice(b, x, [0], [-1], [1]));
    out('sliceStep', op.slice(b, x, [1], [Number.MAX_SAFE_INTEGER], [2], [2]));
    out('gather', op.gather(b, emb, id, 0));
    const lab = op.unsqueeze(b, op.sub(b, id, op.mul(b, op.div(b, id, 4), 4)), [-1]); // ids % 4, [B, T, 1]
    out('gatherElements', op.gatherElements(b, logits, lab, 2));
    const zeros = op.mul(b, logits, 0);
    const ones = op.add(b, op.gatherElements(b, zeros, lab, 2), 1);
    out(
      'scatterAdd',
      op.scatterElements(b, zeros, op.concat(b, [lab, lab], 2), op.concat(b, [ones, ones], 2), 2, 'add'),
    );
    out('reduceSum', op.reduceSum(b, x, [-1], false));
    out('reduceMean', op.reduceMean(b, x, [1], true));
    out('reduceMax', op.reduceMax(b, x, [-1]));
    out('reduceAll', op.reduceSum(b, x, [], false));
    out('softmax', op.softmax(b, x, -1));
    out('logSoftmax', op.logSoftmax(b, x, -1));
    out('layerNorm', op.layerNorm(b, x, g, beta, { epsilon: 1e-5 }));
    const rms = op.simplifiedLayerNormWithStats(b, x, g, { epsilon: 1e-6 });
    out('rms', rms.y);
    out('rmsInvStd', rms.invStdVar);
    out('trilu', op.trilu(b, op.fusedMatMul(b, x, x, { transB: true }), false));
    out('range', op.range(b, 0, 5, 1));
    out('where', op.where(b, op.equal(b, id, 0), op.cast(b, id, 'float32'), -1));
    out('less', op.less(b, id, 3));
    out('cast16', op.cast(b, x, 'float16'));
    out('expand', op.expand(b, op.scalar(b, 3, 'float32'), [2, 3]));
    out('shape', op.shape(b, x));
    out('argMax', op.argMax(b, x, -1, false));
    const sce = op.softmaxCrossEntropyLoss(b, op.reshape(b, logits, [-1, 4]), op.reshape(b, lab, [-1]));
    out('sce', sce.loss);

    const g1 = b.build();
    const res = await runGraph(g1, {
      x: f32([B, T, D], (i) => xs[i] as number),
      ids: { dtype: 'int64', dims: [B, T], data: BigInt64Array.from(ids.map(BigInt)) },
    });

    // Inferred shapes equal onnxruntime's.
    for (const [name, v] of Object.entries(outs)) {
      expect(v.shape, `${name} shape known`).toBeDefined();
      const want = (v.shape ?? []).map((d) => evalDim(d, bind));
      expect(res[name]?.dims, name).toEqual(want);
      expect(res[name]?.dtype, name).toBe(v.dtype);
    }

    const map = (f: (v: number) => number): number[] => xs.map(f);
    close(
      nums(res.add),
      map((v) => v + 1.5),
    );
    close(
      nums(res.sub),
      map((v) => 1 - v),
    );
    close(
      nums(res.mul),
      xs.map((v, i) => v * (1 + (i % D) / 10)),
    );
    close(
      nums(res.div),
      map((v) => v / 4),
    );
    close(
      nums(res.neg),
      map((v) => -v),
    );
    close(nums(res.exp), map(Math.exp));
    close(
      nums(res.log),
      map((v) => Math.log(Math.abs(v) + 1)),
    );
    close(
      nums(res.sqrt),
      map((v) => Math.sqrt(Math.abs(v))),
    );
    close(
      nums(res.reciprocal),
      map((v) => 1 / (Math.abs(v) + 1)),
    );
    close(
      nums(res.pow),
      map((v) => v * v),
    );
    close(nums(res.tanh), map(Math.tanh));
    close(
      nums(res.sigmoid),
      map((v) => 1 / (1 + Math.exp(-v))),
    );
    close(
      nums(res.relu),
      map((v) => Math.max(0, v)),
    );
    close(nums(res.erf), map(erf));
    close(
      nums(res.max),
      map((v) => Math.max(v, 0.5)),
    );
    const mm = rows().flatMap((r) =>
      [0, 1, 2, 3].map((j) => r.reduce((s, v, k) => s + v * (ws[k * 4 + j] as number), 0)),
    );
    close(nums(res.matmul), mm);
    close(
      nums(res.fused),
      mm.map((v) => v * 0.5),
    );
    close(nums(res.reshape), xs);
    close(
      nums(res.gemm),
      mm.map((v, i) => 2 * v + 0.5 * ((i % 4) - 1)),
    );
    const tr: number[] = [];
    for (let bb = 0; bb < B; bb++) for (let d = 0; d < D; d++) for (let t = 0; t < T; t++) tr.push(xAt(bb, t, d));
    close(nums(res.transpose), tr);
    expect(nums(res.unsqueeze)).toEqual(ids);
    expect(nums(res.squeeze)).toEqual(ids);
    const cat: number[] = [];
    for (let bb = 0; bb < B; bb++) for (let r = 0; r < 2; r++) cat.push(...xs.slice(bb * T * D, (bb + 1) * T * D));
    close(nums(res.concat), cat);
    const shift: number[] = [];
    for (let bb = 0; bb < B; bb++)
      for (let t = 0; t < T - 1; t++) for (let d = 0; d < D; d++) shift.push(xAt(bb, t, d));
    close(nums(res.sliceShift), shift);
    const step: number[] = [];
    for (let bb = 0; bb < B; bb++) for (let t = 0; t < T; t++) for (let d = 1; d < D; d += 2) step.push(xAt(bb, t, d));
    close(nums(res.sliceStep), step);
    close(
      nums(res.gather),
      ids.flatMap((k) => Array.from({ length: D }, (_, d) => (k * D + d) / 7)),
    );
    const labs = ids.map((k) => k % 4);
    close(
      nums(res.gatherElements),
      labs.map((l, r) => mm[r * 4 + l] as number),
    );
    close(
      nums(res.scatterAdd),
      labs.flatMap((l) => [0, 1, 2, 3].map((j) => (j === l ? 2 : 0))),
    );
    close(
      nums(res.reduceSum),
      rows().map((r) => r.reduce((s, v) => s + v, 0)),
    );
    const meanT: number[] = [];
    for (let bb = 0; bb < B; bb++)
      for (let d = 0; d < D; d++) meanT.push((xAt(bb, 0, d) + xAt(bb, 1, d) + xAt(bb, 2, d)) / 3);
    close(nums(res.reduceMean), meanT);
    close(
      nums(res.reduceMax),
      rows().map((r) => Math.max(...r)),
    );
    close(nums(res.reduceAll), [xs.reduce((s, v) => s + v, 0)]);
    const sm = rows().flatMap((r) => {
      const m = Math.max(...r);
      const z = r.reduce((s, v) => s + Math.exp(v - m), 0);
      return r.map((v) => Math.exp(v - m) / z);
    });
    close(nums(res.softmax), sm);
    close(nums(res.logSoftmax), sm.map(Math.log));
    const ln = rows().flatMap((r) => {
      const mu = r.reduce((s, v) => s + v, 0) / D;
      const varr = r.reduce((s, v) => s + (v - mu) ** 2, 0) / D;
      return r.map((v, d) => ((v - mu) / Math.sqrt(varr + 1e-5)) * (1 + d / 10) + d / 20);
    });
    close(nums(res.layerNorm), ln);
    const inv = rows().map((r) => 1 / Math.sqrt(r.reduce((s, v) => s + v * v, 0) / D + 1e-6));
    close(
      nums(res.rms),
      rows().flatMap((r, i) => r.map((v, d) => v * (inv[i] as number) * (1 + d / 10))),
    );
    close(nums(res.rmsInvStd), inv);
    const tril: number[] = [];
    for (let bb = 0; bb < B; bb++)
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += xAt(bb, i, d) * xAt(bb, j, d);
          tril.push(j <= i ? s : 0);
        }
    close(nums(res.trilu), tril);
    expect(nums(res.range)).toEqual([0, 1, 2, 3, 4]);
    expect(nums(res.where)).toEqual(ids.map((k) => (k === 0 ? 0 : -1)));
    expect(nums(res.less)).toEqual(ids.map((k) => (k < 3 ? 1 : 0)));
    close(nums(res.cast16), xs, 1e-3);
    expect(nums(res.expand)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(nums(res.shape)).toEqual([B, T, D]);
    expect(nums(res.argMax)).toEqual(rows().map((r) => r.indexOf(Math.max(...r))));
    const ce = labs.map((l, r) => {
      const z = mm.slice(r * 4, r * 4 + 4);
      const m = Math.max(...z);
      return -((z[l] as number) - m - Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)));
    });
    close(nums(res.sce), [ce.reduce((s, v) => s + v, 0) / ce.length]);
  });

  it('emits attribute-form axes that onnxruntime accepts at opset 13 and 17', async () => {
    for (const opset of [13, 17]) {
      const b = new GraphBuilder(`axes${opset}`, { opset });
      const x = b.input('x', 'float32', [2, 3]);
      b.output(op.reduceMean(b, op.unsqueeze(b, x, [0]), [2], false), 'mean');
      b.output(op.reduceMax(b, op.squeeze(b, op.unsqueeze(b, x, [0]), [0]), [0], true), 'max');
      const res = await runGraph(b.build(), { x: f32([2, 3], (i) => i) });
      expect(res.mean?.dims).toEqual([1, 2]);
      expect(nums(res.mean)).toEqual([1, 4]);
      expect(nums(res.max)).toEqual([3, 4, 5]);
    }
  });
});
