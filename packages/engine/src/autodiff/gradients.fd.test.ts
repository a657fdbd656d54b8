// The gradient matrix: one row per rule (plus broadcasting, extreme-value and composite rows), each checked
// against float64 central finite differences along one random direction (see testing/fd.ts). float64 rows use
// a relative tolerance of 1e-6; rows that run in float32 (ops onnxruntime's CPU build has no float64 kernel
// for) use 1e-4 against a float64 reference composition.

import { afterAll, describe, expect, it } from 'vitest';
import type { GraphBuilder } from '../onnx/builder.js';
import { attr, type TensorData, type Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { releaseAllSessions } from '../onnx/runtime.js';
import { dequantizeInt8 } from '../quant/graph.js';
import { dequantize, quantizeInt4, quantizeInt8 } from '../quant/quantize.js';
import { GRADIENT_RULES } from './rules/table.js';
import { checkRow, type Row } from './testing/fd.js';

afterAll(async () => {
  await releaseAllSessions();
});

const F64_TOL = 1e-6;
const F32_TOL = 1e-4;

function i64(b: GraphBuilder, dims: number[], values: number[]): Value {
  const t: TensorData = { dtype: 'int64', dims, data: BigInt64Array.from(values.map(BigInt)) };
  return b.constant(t, 'idx');
}

function bools(b: GraphBuilder, dims: number[], values: number[]): Value {
  return b.constant({ dtype: 'bool', dims, data: Uint8Array.from(values) }, 'mask');
}

/** A float64 or float32 op of the same type as x, built from attributes (for ops without an ops.ts helper). */
function raw(
  b: GraphBuilder,
  opType: string,
  inputs: (Value | null)[],
  attrs: Parameters<GraphBuilder['op1']>[2] = {},
  domain = '',
): Value {
  const first = inputs.find((v): v is Value => v !== null) as Value;
  return b.op1(opType, inputs, attrs, { domain, dtypes: [first.dtype] });
}

const P = (...shape: number[]) => ({ shape });

/** A frozen [5, 64] weight for the quantized rows. */
const QW: TensorData = {
  dtype: 'float32',
  dims: [5, 64],
  data: Float32Array.from({ length: 320 }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 3))),
};
const Ppos = (...shape: number[]) => ({ shape, init: 'positive' as const });
const Psigned = (...shape: number[]) => ({ shape, init: 'signed' as const });

/** float64 x·op(w) with op = transpose of the last two dims, the reference for FusedMatMul rows. */
function refMatMul(b: GraphBuilder, a: Value, w: Value, tA: boolean, tB: boolean, alpha: number): Value {
  const t = (v: Value, on: boolean): Value => {
    if (!on) return v;
    const r = v.shape?.length ?? 2;
    const perm = Array.from({ length: r }, (_, i) => i);
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return ops.transpose(b, v, perm);
  };
  return ops.mul(b, ops.matmul(b, t(a, tA), t(w, tB)), alpha);
}

/** RMS norm from primitives, the float64 reference for SimplifiedLayerNormalization. */
function refRmsNorm(b: GraphBuilder, x: Value, s: Value, eps: number): Value {
  const ms = ops.reduceMean(b, ops.mul(b, x, x), [-1], true);
  return ops.mul(b, ops.div(b, x, ops.sqrt(b, ops.add(b, ms, eps))), s);
}

function refLayerNorm(b: GraphBuilder, x: Value, s: Value, c: Value, eps: number): Value {
  const xc = ops.sub(b, x, ops.reduceMean(b, x, [-1], true));
  const v = ops.reduceMean(b, ops.mul(b, xc, xc), [-1], true);
  return ops.add(b, ops.mul(b, ops.div(b, xc, ops.sqrt(b, ops.add(b, v, eps))), s), c);
}

function refErf(b: GraphBuilder, x: Value): Value {
  const [p, a1, a2, a3, a4, a5] = [0.3275911, 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429];
  const t = ops.reciprocal(b, ops.add(b, ops.mul(b, ops.abs(b, x), p), 1));
  let poly = ops.mul(b, t, a5);
  for (const a of [a4, a3, a2, a1]) poly = ops.mul(b, ops.add(b, poly, a), t);
  const tail = ops.mul(b, poly, ops.exp(b, ops.neg(b, ops.mul(b, x, x))));
  return ops.mul(b, b.op1('Sign', [x], {}, { shapes: [x.shape] }), ops.sub(b, 1, tail));
}

/** A RotaryEmbedding case: [B·T, hd/2] float32 angle tables and the table row of each (b, t), shuffled. */
const ROPE = (() => {
  const [B, T, half] = [2, 4, 3];
  const angle = (r: number, i: number) => (r + 1) * 0.37 * 10000 ** (-i / half);
  const cos = Float32Array.from({ length: B * T * half }, (_, k) => Math.cos(angle(Math.floor(k / half), k % half)));
  const sin = Float32Array.from({ length: B * T * half }, (_, k) => Math.sin(angle(Math.floor(k / half), k % half)));
  const rows = [5, 0, 7, 2, 1, 6, 3, 4];
  return { B, T, half, cos, sin, rows };
})();

/** float64 rotate-half from slices: x1·c − x2·s, x2·c + x1·s, with c, s the float32 tables' rows per (b, t). */
function refRope(b: GraphBuilder, x: Value): Value {
  const { B, T, half, rows } = ROPE;
  const perPos = (t: Float32Array) => {
    const data = Float64Array.from({ length: B * T * half }, (_, k) => {
      const bt = Math.floor(k / half);
      return t[(rows[bt] as number) * half + (k % half)] as number;
    });
    return b.constant({ dtype: 'float64', dims: [B, 1, T, half], data }, 'rope_ref');
  };
  const c = perPos(ROPE.cos);
  const sn = perPos(ROPE.sin);
  const x1 = ops.slice(b, x, [0], [half], [-1]);
  const x2 = ops.slice(b, x, [half], [2 * half], [-1]);
  const y1 = ops.sub(b, ops.mul(b, x1, c), ops.mul(b, x2, sn));
  const y2 = ops.add(b, ops.mul(b, x2, c), ops.mul(b, x1, sn));
  return ops.concat(b, [y1, y2], -1);
}

const rows: Row[] = [
  // --- elementwise arithmetic, with broadcasting
  {
    name: 'Add same shape',
    params: { a: P(2, 3), c: P(2, 3) },
    build: (b, p) => ops.add(b, p.a as Value, p.c as Value),
  },
  {
    name: 'Add [3,1,4] + [4]',
    params: { a: P(3, 1, 4), c: P(4) },
    build: (b, p) => ops.add(b, p.a as Value, p.c as Value),
  },
  {
    name: 'Add [3,1,4] + [5,1]',
    params: { a: P(3, 1, 4), c: P(5, 1) },
    build: (b, p) => ops.add(b, p.a as Value, p.c as Value),
  },
  { name: 'Sub [2,3] - [3]', params: { a: P(2, 3), c: P(3) }, build: (b, p) => ops.sub(b, p.a as Value, p.c as Value) },
  { name: 'Mul [2,3] * [3]', params: { a: P(2, 3), c: P(3) }, build: (b, p) => ops.mul(b, p.a as Value, p.c as Value) },
  {
    name: 'Mul [3,1,4] * [1,5,1]',
    params: { a: P(3, 1, 4), c: P(1, 5, 1) },
    build: (b, p) => ops.mul(b, p.a as Value, p.c as Value),
  },
  {
    name: 'Mul by scalar param',
    params: { a: P(2, 3), c: P() },
    build: (b, p) => ops.mul(b, p.a as Value, p.c as Value),
  },
  {
    name: 'Div [2,3] / [2,1]',
    params: { a: P(2, 3), c: Psigned(2, 1) },
    build: (b, p) => ops.div(b, p.a as Value, p.c as Value),
  },
  { name: 'Neg', params: { a: P(2, 3) }, build: (b, p) => ops.neg(b, p.a as Value) },
  { name: 'Pow x^2 (constant)', params: { a: P(2, 3) }, build: (b, p) => ops.pow(b, p.a as Value, 2) },
  { name: 'Pow x^3 (constant)', params: { a: P(2, 3) }, build: (b, p) => ops.pow(b, p.a as Value, 3) },
  {
    name: 'Pow x^p, both trainable, [2,3]^[3]',
    params: { a: Ppos(2, 3), e: P(3) },
    build: (b, p) => ops.pow(b, p.a as Value, p.e as Value),
  },
  {
    name: 'Where [2,3] / [3]',
    params: { x: P(2, 3), y: P(3) },
    build: (b, p) => ops.where(b, bools(b, [2, 3], [1, 0, 1, 0, 0, 1]), p.x as Value, p.y as Value),
  },
  {
    name: 'Max [2,3] vs [3]',
    params: { a: P(2, 3), c: P(3) },
    build: (b, p) => ops.max(b, p.a as Value, p.c as Value),
  },
  {
    name: 'Min [2,3] vs [2,3]',
    params: { a: P(2, 3), c: P(2, 3) },
    build: (b, p) => ops.min(b, p.a as Value, p.c as Value),
  },
  // --- unary
  { name: 'Exp', params: { a: P(2, 3) }, build: (b, p) => ops.exp(b, p.a as Value) },
  { name: 'Log', params: { a: Ppos(2, 3) }, build: (b, p) => ops.log(b, p.a as Value) },
  { name: 'Sqrt', params: { a: Ppos(2, 3) }, build: (b, p) => ops.sqrt(b, p.a as Value) },
  { name: 'Reciprocal', params: { a: Psigned(2, 3) }, build: (b, p) => ops.reciprocal(b, p.a as Value) },
  { name: 'Tanh', params: { a: P(2, 3) }, build: (b, p) => ops.tanh(b, p.a as Value) },
  {
    name: 'Tanh extreme (±20 next to moderate values)',
    params: { a: { shape: [6], values: [-20, -3, -0.4, 0.7, 2.5, 20] } },
    build: (b, p) => ops.tanh(b, p.a as Value),
  },
  { name: 'Sigmoid', params: { a: P(2, 3) }, build: (b, p) => ops.sigmoid(b, p.a as Value) },
  {
    name: 'Sigmoid extreme (±20 next to moderate values)',
    params: { a: { shape: [6], values: [-20, -3, -0.4, 0.7, 2.5, 20] } },
    build: (b, p) => ops.sigmoid(b, p.a as Value),
  },
  { name: 'Relu', params: { a: Psigned(2, 3) }, build: (b, p) => ops.relu(b, p.a as Value) },
  { name: 'Abs', params: { a: Psigned(2, 3) }, build: (b, p) => ops.abs(b, p.a as Value) },
  {
    // onnxruntime's CPU Erf is float32 only; the reference is Abramowitz & Stegun 7.1.26 in float64
    // (|error| < 1.5e-7, far inside the float32 tolerance).
    name: 'Erf (float32 row)',
    dtype: 'float32',
    params: { a: P(2, 3) },
    build: (b, p) => ops.erf(b, p.a as Value),
    reference: (b, p) => refErf(b, p.a as Value),
    tol: F32_TOL,
  },
  { name: 'Identity', params: { a: P(2, 3) }, build: (b, p) => ops.identity(b, p.a as Value) },
  {
    name: 'Cast float32 -> float64 (float32 row)',
    dtype: 'float32',
    params: { a: P(2, 3) },
    build: (b, p) => ops.mul(b, ops.cast(b, p.a as Value, 'float64'), ops.cast(b, p.a as Value, 'float64')),
    reference: (b, p) => ops.mul(b, p.a as Value, p.a as Value),
    tol: F32_TOL,
  },
  {
    name: 'Expand [3,1] -> [2,3,4]',
    params: { a: P(3, 1) },
    build: (b, p) => ops.expand(b, p.a as Value, [2, 3, 4]),
  },
  // --- matrix products
  {
    name: 'MatMul [2,3,4] @ [4,5] (linear layer)',
    params: { a: P(2, 3, 4), w: P(4, 5) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
  },
  {
    name: 'MatMul [2,3,4] @ [2,4,5]',
    params: { a: P(2, 3, 4), w: P(2, 4, 5) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
  },
  {
    name: 'MatMul [2,1,3,4] @ [3,4,5] (batch broadcast)',
    params: { a: P(2, 1, 3, 4), w: P(3, 4, 5) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
  },
  {
    name: 'MatMul [4,3] @ [2,3,5] (2-D left)',
    params: { a: P(4, 3), w: P(2, 3, 5) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
  },
  {
    name: 'MatMul [4] @ [4,5] (1-D left)',
    params: { a: P(4), w: P(4, 5) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
  },
  {
    name: 'MatMul [2,3,4] @ [4] (1-D right)',
    params: { a: P(2, 3, 4), w: P(4) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
  },
  {
    name: 'MatMul float32 [2,3,4] @ [4,5] (FusedMatMul backward)',
    dtype: 'float32',
    params: { a: P(2, 3, 4), w: P(4, 5) },
    build: (b, p) => ops.matmul(b, p.a as Value, p.w as Value),
    tol: F32_TOL,
  },
  ...[
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ].map(
    ([tA, tB]): Row => ({
      // onnxruntime's CPU FusedMatMul is float32 only.
      name: `FusedMatMul float32 transA=${tA} transB=${tB} alpha=0.7, batched`,
      dtype: 'float32',
      params: { a: P(2, ...(tA ? [4, 3] : [3, 4])), w: P(...(tB ? [5, 4] : [4, 5])) },
      build: (b, p) => ops.fusedMatMul(b, p.a as Value, p.w as Value, { transA: tA, transB: tB, alpha: 0.7 }),
      reference: (b, p) => refMatMul(b, p.a as Value, p.w as Value, tA as boolean, tB as boolean, 0.7),
      tol: F32_TOL,
    }),
  ),
  {
    name: 'FusedMatMul float32 [2,3,4] x [2,5,4]ᵀ (attention scores)',
    dtype: 'float32',
    params: { a: P(2, 3, 4), w: P(2, 5, 4) },
    build: (b, p) => ops.fusedMatMul(b, p.a as Value, p.w as Value, { transB: true, alpha: 0.5 }),
    reference: (b, p) => refMatMul(b, p.a as Value, p.w as Value, false, true, 0.5),
    tol: F32_TOL,
  },
  ...[
    [false, false],
    [true, true],
  ].map(
    ([tA, tB]): Row => ({
      name: `Gemm transA=${tA} transB=${tB} alpha=1.3 beta=0.6, C [5]`,
      params: { a: P(...(tA ? [4, 3] : [3, 4])), w: P(...(tB ? [5, 4] : [4, 5])), c: P(5) },
      build: (b, p) =>
        ops.gemm(b, p.a as Value, p.w as Value, p.c as Value, { transA: tA, transB: tB, alpha: 1.3, beta: 0.6 }),
    }),
  ),
  // --- shapes and layout
  {
    name: 'Reshape [2,3,4] -> [6,4]',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.reshape(b, p.a as Value, [6, 4]),
  },
  {
    name: 'Flatten axis 2',
    params: { a: P(2, 3, 4) },
    build: (b, p) => raw(b, 'Flatten', [p.a as Value], { axis: attr.int(2) }),
  },
  { name: 'Squeeze', params: { a: P(2, 1, 4) }, build: (b, p) => ops.squeeze(b, p.a as Value, [1]) },
  { name: 'Unsqueeze', params: { a: P(2, 4) }, build: (b, p) => ops.unsqueeze(b, p.a as Value, [0, 2]) },
  {
    name: 'Transpose perm [2,0,1]',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.transpose(b, p.a as Value, [2, 0, 1]),
  },
  { name: 'Transpose default perm', params: { a: P(2, 3, 4) }, build: (b, p) => raw(b, 'Transpose', [p.a as Value]) },
  {
    name: 'Concat 3 inputs axis 1',
    params: { a: P(2, 1, 3), c: P(2, 2, 3), d: P(2, 3, 3) },
    build: (b, p) => ops.concat(b, [p.a as Value, p.c as Value, p.d as Value], 1),
  },
  {
    name: 'Split [1,2,1] axis 1, middle output unused',
    params: { a: P(2, 4, 3) },
    build: (b, p) => {
      const outs = b.op('Split', [p.a as Value, ops.const1d(b, [1, 2, 1])], { axis: attr.int(1) }, { outputs: 3 });
      return [outs[0] as Value, outs[2] as Value];
    },
  },
  {
    name: 'Slice unit steps, negative bounds (causal shift)',
    params: { a: P(2, 5, 3) },
    build: (b, p) => ops.slice(b, p.a as Value, [0, 1], [-1, 3], [1, 2]),
  },
  {
    name: 'Slice start from the end, to the end',
    params: { a: P(2, 5, 3) },
    build: (b, p) => ops.slice(b, p.a as Value, [-2], [Number.MAX_SAFE_INTEGER], [1]),
  },
  {
    name: 'Slice step 2 and step -1',
    params: { a: P(4, 6) },
    build: (b, p) => ops.slice(b, p.a as Value, [0, 5], [4, 0], [0, 1], [2, -1]),
  },
  {
    name: 'Pad constant, axes [1,2], value 0.5',
    params: { a: P(2, 3, 4) },
    build: (b, p) =>
      b.op1(
        'Pad',
        [p.a as Value, ops.const1d(b, [1, 0, 2, 3]), ops.scalar(b, 0.5, 'float64'), ops.const1d(b, [1, -1])],
        {},
        {},
      ),
  },
  // --- indexing
  {
    name: 'Gather axis 0 (embedding, repeated ids)',
    params: { e: P(6, 3) },
    build: (b, p) => ops.gather(b, p.e as Value, i64(b, [2, 3], [0, 2, 2, 5, 1, 0]), 0),
  },
  {
    name: 'Gather axis 1, 2-D indices',
    params: { e: P(3, 5, 2) },
    build: (b, p) => ops.gather(b, p.e as Value, i64(b, [2, 2], [4, 0, 0, 1]), 1),
  },
  {
    name: 'Gather axis -1, scalar index',
    params: { e: P(3, 4) },
    build: (b, p) =>
      ops.gather(b, p.e as Value, b.constant({ dtype: 'int64', dims: [], data: BigInt64Array.from([2n]) }), -1),
  },
  {
    name: 'GatherElements axis 1 (cross-entropy pick, repeated)',
    params: { e: P(4, 5) },
    build: (b, p) => ops.gatherElements(b, p.e as Value, i64(b, [4, 2], [1, 1, 0, 4, 3, 2, 4, 4]), 1),
  },
  // --- reductions and softmax
  {
    name: 'ReduceSum axis 1, keepdims 0',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.reduceSum(b, p.a as Value, [1], false),
  },
  {
    name: 'ReduceSum axes [0,2], keepdims 1',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.reduceSum(b, p.a as Value, [0, 2], true),
  },
  { name: 'ReduceSum all', params: { a: P(2, 3, 4) }, build: (b, p) => ops.reduceSum(b, p.a as Value, [], false) },
  {
    name: 'ReduceMean axis -1, keepdims 1',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.reduceMean(b, p.a as Value, [-1], true),
  },
  {
    name: 'ReduceMean axes [0,2], keepdims 0',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.reduceMean(b, p.a as Value, [0, 2], false),
  },
  {
    name: 'ReduceMax axis 1, keepdims 0',
    params: { a: P(2, 3, 4) },
    build: (b, p) => ops.reduceMax(b, p.a as Value, [1], false),
  },
  { name: 'Softmax axis -1', params: { a: P(2, 3, 5) }, build: (b, p) => ops.softmax(b, p.a as Value, -1) },
  { name: 'Softmax axis 1', params: { a: P(2, 3, 5) }, build: (b, p) => ops.softmax(b, p.a as Value, 1) },
  {
    name: 'Softmax extreme logits (±50)',
    params: { a: { shape: [2, 4], values: [50, -50, 49, 0.5, -50, 48, 50, -49] } },
    build: (b, p) => ops.softmax(b, p.a as Value, -1),
  },
  { name: 'LogSoftmax axis -1', params: { a: P(3, 6) }, build: (b, p) => ops.logSoftmax(b, p.a as Value, -1) },
  {
    name: 'LogSoftmax extreme logits (±50)',
    params: { a: { shape: [2, 4], values: [50, -50, 49, 0.5, -50, 48, 50, -49] } },
    build: (b, p) => ops.logSoftmax(b, p.a as Value, -1),
  },
  // --- normalisation, dropout, loss
  {
    name: 'LayerNormalization axis -1, scale and bias',
    params: { x: P(2, 3, 5), s: P(5), c: P(5) },
    build: (b, p) => ops.layerNorm(b, p.x as Value, p.s as Value, p.c as Value, { epsilon: 1e-5 }),
  },
  {
    name: 'LayerNormalization axis 1 over [3,5], no bias',
    params: { x: P(2, 3, 5), s: P(3, 5) },
    build: (b, p) => ops.layerNorm(b, p.x as Value, p.s as Value, null, { axis: 1 }),
  },
  {
    name: 'LayerNormalization tiny variance',
    params: { x: { shape: [2, 4], values: [1, 1.001, 0.999, 1.0005, -2, -2.0007, -1.9996, -2.0002] }, s: P(4) },
    build: (b, p) => ops.layerNorm(b, p.x as Value, p.s as Value, null, { epsilon: 1e-5 }),
    tol: 1e-5,
  },
  ...[1, 1.702].map(
    (alpha): Row => ({
      // onnxruntime's CPU QuickGelu is float32/float16 only; alpha 1 is SiLU (the Llama MLP's activation).
      name: `QuickGelu float32 alpha=${alpha}`,
      dtype: 'float32',
      params: {
        x: { shape: [3, 5], values: [-6, -3, -1.5, -0.4, 0, 0.3, 1.1, 2.5, 5, -0.05, 0.8, -2.2, 3.3, 0.01, -4] },
      },
      build: (b, p) => ops.quickGelu(b, p.x as Value, alpha),
      // x / (1 + e^(−αx)): x·Sigmoid(αx) would be fused by onnxruntime into a float64 QuickGelu it has no kernel for.
      reference: (b, p) => {
        const x = p.x as Value;
        return ops.div(b, x, ops.add(b, ops.exp(b, ops.neg(b, ops.mul(b, x, alpha))), 1));
      },
      tol: F32_TOL,
    }),
  ),
  {
    // onnxruntime's CPU RotaryEmbedding is float32/float16 only.
    name: 'RotaryEmbedding float32 [2,3,4,6], shuffled table rows',
    dtype: 'float32',
    params: { x: P(ROPE.B, 3, ROPE.T, 2 * ROPE.half) },
    build: (b, p) => {
      const { B, T, half } = ROPE;
      const table = (t: Float32Array) => b.constant({ dtype: 'float32', dims: [B * T, half], data: t }, 'rope');
      const rows = i64(b, [B, T], ROPE.rows);
      return ops.rotaryEmbedding(b, p.x as Value, rows, table(ROPE.cos), table(ROPE.sin));
    },
    reference: (b, p) => refRope(b, p.x as Value),
    tol: F32_TOL,
  },
  {
    name: 'SimplifiedLayerNormalization (RMSNorm)',
    params: { x: P(2, 3, 5), s: P(5) },
    build: (b, p) => ops.simplifiedLayerNorm(b, p.x as Value, p.s as Value, { epsilon: 1e-6 }),
  },
  {
    name: 'LayerNormalization float32 (saved Mean/InvStdDev)',
    dtype: 'float32',
    params: { x: P(2, 3, 5), s: P(5), c: P(5) },
    build: (b, p) => ops.layerNorm(b, p.x as Value, p.s as Value, p.c as Value, { epsilon: 1e-5 }),
    reference: (b, p) => refLayerNorm(b, p.x as Value, p.s as Value, p.c as Value, 1e-5),
    tol: F32_TOL,
  },
  {
    name: 'SimplifiedLayerNormalization float32 (saved inv_std_var)',
    dtype: 'float32',
    params: { x: P(2, 3, 5), s: P(5) },
    build: (b, p) => ops.simplifiedLayerNorm(b, p.x as Value, p.s as Value, { epsilon: 1e-6 }),
    reference: (b, p) => refRmsNorm(b, p.x as Value, p.s as Value, 1e-6),
    tol: F32_TOL,
  },
  {
    name: 'SimplifiedLayerNormalization tiny norm',
    params: { x: { shape: [2, 3], values: [1e-3, -2e-3, 1.5e-3, 0.5, -0.25, 1] }, s: P(3) },
    build: (b, p) => ops.simplifiedLayerNorm(b, p.x as Value, p.s as Value, { epsilon: 1e-6 }),
    tol: 1e-5,
  },
  {
    name: 'Dropout in inference mode (identity)',
    params: { x: P(2, 3) },
    build: (b, p) => raw(b, 'Dropout', [p.x as Value]),
  },
  {
    name: 'SoftmaxCrossEntropyLoss mean, ignore_index -100',
    params: { s: P(4, 5) },
    build: (b, p) =>
      ops.softmaxCrossEntropyLoss(b, p.s as Value, i64(b, [4], [1, -100, 4, 1]), { ignoreIndex: -100 }).loss,
  },
  {
    name: 'SoftmaxCrossEntropyLoss sum, [N,C,T] scores',
    params: { s: P(2, 5, 3) },
    build: (b, p) =>
      ops.softmaxCrossEntropyLoss(b, p.s as Value, i64(b, [2, 3], [0, 4, 4, 2, 1, 3]), { reduction: 'sum' }).loss,
  },
  {
    name: 'SoftmaxCrossEntropyLoss none, extreme logits',
    params: { s: { shape: [2, 3], values: [50, -50, 0, -50, 49, 50] } },
    build: (b, p) => ops.softmaxCrossEntropyLoss(b, p.s as Value, i64(b, [2], [2, 0]), { reduction: 'none' }).loss,
  },
  // --- composites: the model's functions written out, exercising the rules together
  {
    name: 'composite: causal-LM loss (LogSoftmax + GatherElements + masked mean)',
    params: { z: P(5, 6) },
    build: (b, p) => {
      const logp = ops.logSoftmax(b, p.z as Value, -1);
      const picked = ops.squeeze(b, ops.gatherElements(b, logp, i64(b, [5, 1], [3, 0, 5, 5, 2]), 1), [1]);
      const mask = b.constant({ dtype: 'float64', dims: [5], data: Float64Array.from([1, 1, 0, 1, 1]) }, 'mask');
      return ops.div(b, ops.neg(b, ops.reduceSum(b, ops.mul(b, picked, mask), [], false)), 4);
    },
  },
  {
    name: 'composite: gelu_new (tanh approximation), value used three times',
    params: { x: P(3, 4) },
    build: (b, p) => {
      const x = p.x as Value;
      const inner = ops.mul(b, ops.add(b, x, ops.mul(b, ops.pow(b, x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return ops.mul(b, ops.mul(b, x, 0.5), ops.add(b, ops.tanh(b, inner), 1));
    },
  },
  {
    name: 'composite: RMSNorm from primitives',
    params: { x: P(2, 3, 4), s: P(4) },
    build: (b, p) => refRmsNorm(b, p.x as Value, p.s as Value, 1e-6),
  },
  {
    name: 'composite: causal attention softmax(QKᵀ/√d + mask)·V',
    params: { q: P(2, 3, 4), k: P(2, 3, 4), v: P(2, 3, 4) },
    build: (b, p) => {
      const kt = ops.transpose(b, p.k as Value, [0, 2, 1]);
      const scores = ops.mul(b, ops.matmul(b, p.q as Value, kt), 0.5);
      const causal = bools(b, [3, 3], [1, 0, 0, 1, 1, 0, 1, 1, 1]);
      const masked = ops.where(b, causal, scores, -1e9);
      return ops.matmul(b, ops.softmax(b, masked, -1), p.v as Value);
    },
  },
  // --- quantized frozen weights (float32 only in onnxruntime): the reference multiplies by the dequantized weight
  ...([4, 8] as const).map(
    (bits): Row => ({
      name: `MatMulNBits float32 ${bits} bits, block 32, [2,3,64] x W[5,64]ᵀ`,
      dtype: 'float32',
      params: { a: P(2, 3, 64) },
      build: (b, p) => {
        const q = quantizeInt4('w', QW, 'out_in', 32);
        // 8 bits: the same codes widened to a byte, zero point 128 instead of 8
        const data =
          bits === 4
            ? q.packed
            : Uint8Array.from({ length: 5 * 64 }, (_, i) => ((q.packed[i >> 1]! >> (i & 1 ? 4 : 0)) & 15) + 120);
        const packed = b.constant({ dtype: 'uint8', dims: [5, 2, bits === 4 ? 16 : 32], data }, 'packed');
        const scales = b.constant({ dtype: 'float32', dims: [10], data: q.scales }, 'scales');
        const attrs = { K: attr.int(64), N: attr.int(5), bits: attr.int(bits), block_size: attr.int(32) };
        return b.op1('MatMulNBits', [p.a as Value, packed, scales], attrs, {
          domain: 'com.microsoft',
          dtypes: ['float32'],
        });
      },
      reference: (b, p) => {
        const w = dequantize(quantizeInt4('w', QW, 'out_in', 32)).data as Float32Array;
        const wc = b.constant({ dtype: 'float64', dims: [5, 64], data: Float64Array.from(w) }, 'wq');
        return refMatMul(b, p.a as Value, wc, false, true, 1);
      },
      tol: F32_TOL,
    }),
  ),
  {
    name: 'composite: int8 DequantizeLinear weight (recomputed in the backward) into FusedMatMul',
    dtype: 'float32',
    params: { a: P(3, 64) },
    build: (b, p) => {
      const q = quantizeInt8('w', QW, 'out_in');
      const data = b.constant({ dtype: 'int8', dims: [5, 64], data: q.q }, 'q');
      const w = dequantizeInt8(b, data, b.constant({ dtype: 'float32', dims: [5], data: q.scales }, 's'));
      return ops.fusedMatMul(b, p.a as Value, w, { transB: true });
    },
    reference: (b, p) => {
      const w = dequantize(quantizeInt8('w', QW, 'out_in')).data as Float32Array;
      const wc = b.constant({ dtype: 'float64', dims: [5, 64], data: Float64Array.from(w) }, 'wq');
      return refMatMul(b, p.a as Value, wc, false, true, 1);
    },
    tol: F32_TOL,
  },
  {
    name: 'composite: LoRA linear x·W + (x·A)·B·s with frozen W',
    params: { x: P(2, 3, 4), a: P(4, 2), c: P(2, 5) },
    build: (b, p) => {
      const w = b.constant(
        { dtype: 'float64', dims: [4, 5], data: Float64Array.from({ length: 20 }, (_, i) => Math.sin(i)) },
        'w',
      );
      const base = ops.matmul(b, p.x as Value, w);
      const lora = ops.mul(b, ops.matmul(b, ops.matmul(b, p.x as Value, p.a as Value), p.c as Value), 2);
      return ops.add(b, base, lora);
    },
  },
];

describe('gradient rules vs float64 finite differences', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    const res = await checkRow(row);
    const tol = row.tol ?? (row.dtype === 'float32' ? F32_TOL : F64_TOL);
    expect(Number.isFinite(res.analytic)).toBe(true);
    // The op and its reference compute the same loss (to float32 rounding for float32 rows).
    expect(Math.abs(res.lossOp - res.lossRef)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(res.lossRef)));
    expect(res.relError, `analytic ${res.analytic} vs numeric ${res.numeric}`).toBeLessThanOrEqual(tol);
  });

  it('every rule in the table has a row', () => {
    const covered = new Set([
      ...rows.map((r) => r.name.split(/[ (]/)[0] as string),
      'Dropout', // also checked mask-exactly in training mode in sweep.test.ts
    ]);
    const missing = [...GRADIENT_RULES.keys()]
      .map((k) => k.split(':')[1] as string)
      .filter((op) => !covered.has(op) && !rows.some((r) => r.name.includes(op)));
    expect(missing).toEqual([]);
  });
});
