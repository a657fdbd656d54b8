// Typed ONNX op helpers over GraphBuilder. Each helper checks its inputs' dtypes, infers the output dtype and
// (when it can) the output shape, and emits the form of the op that is valid at the builder's opset. Symbolic
// dims flow through (see dims.ts); when a shape cannot be known it is left undefined rather than guessed.

import { GraphBuildError, type GraphBuilder } from './builder.js';
import { dimDivide, dimMinus, dimProduct, dimSum, sameDim } from './dims.js';
import { bfloat16Bits, float16Bits, isFloat, ONNX_DTYPE } from './dtypes.js';
import {
  type Attr,
  attr,
  type Dim,
  type DType,
  MS_DOMAIN,
  type TensorArray,
  type TensorData,
  type Value,
} from './ir.js';

export type Shape = readonly Dim[] | undefined;
/** A value, or a number that becomes a scalar constant of the other operand's dtype. */
export type Operand = Value | number;

function fail(op: string, msg: string): never {
  throw new GraphBuildError(`${op}: ${msg}`);
}

function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) fail(op, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function sameDtype(op: string, vs: readonly Value[]): DType {
  const first = vs[0];
  if (first === undefined) fail(op, 'needs at least one input');
  for (const v of vs) {
    if (v.dtype !== first.dtype)
      fail(op, `dtype mismatch: '${first.name}' is ${first.dtype}, '${v.name}' is ${v.dtype}`);
  }
  return first.dtype;
}

function needFloat(op: string, v: Value): void {
  if (!isFloat(v.dtype)) fail(op, `'${v.name}' must be a floating-point tensor, got ${v.dtype}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Shape rules

/** Numpy-style multidirectional broadcasting. Throws on two fixed, unequal, non-1 dims. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const ss = shapes as readonly (readonly Dim[])[];
  const rank = Math.max(0, ...ss.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of ss) {
      const e = s[s.length - rank + i];
      if (e === undefined || e === 1) continue;
      if (d === 1 || sameDim(d, e)) {
        d = e;
      } else if (typeof d === 'number' && typeof e === 'number') {
        fail(op, `cannot broadcast shapes ${ss.map(fmtShape).join(' and ')} (dim ${i}: ${d} vs ${e})`);
      } else if (typeof d === 'string' && typeof e === 'number') {
        d = e; // the symbol must equal the fixed size for the model to run
      } else if (typeof d === 'string' && typeof e === 'string') {
        return undefined; // two different names: either could be 1 at run time
      }
    }
    out.push(d);
  }
  return out;
}

export function fmtShape(s: Shape): string {
  return s === undefined ? '?' : `[${s.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------------------------
// Constants

function makeArray(values: readonly (number | bigint)[], dtype: DType): TensorArray {
  const nums = (): number[] => values.map((v) => Number(v));
  switch (dtype) {
    case 'float32':
      return Float32Array.from(nums());
    case 'float64':
      return Float64Array.from(nums());
    case 'float16':
      return Uint16Array.from(nums().map(float16Bits));
    case 'bfloat16':
      return Uint16Array.from(nums().map(bfloat16Bits));
    case 'int64':
      return BigInt64Array.from(values.map((v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(v)))));
    case 'int32':
      return Int32Array.from(nums());
    case 'int8':
      return Int8Array.from(nums());
    case 'uint8':
      return Uint8Array.from(nums());
    case 'bool':
      return Uint8Array.from(nums().map((v) => (v !== 0 ? 1 : 0)));
  }
}

// Identical small constants are shared within one builder, so e.g. every Unsqueeze(axes=[0]) reads one tensor.
const constCache = new WeakMap<GraphBuilder, Map<string, Value>>();

function cachedConstant(b: GraphBuilder, t: TensorData, hint: string): Value {
  let cache = constCache.get(b);
  if (cache === undefined) {
    cache = new Map();
    constCache.set(b, cache);
  }
  const key = `${t.dtype}|${t.dims.join(',')}|${Array.from(t.data as ArrayLike<number | bigint>, String).join(',')}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const v = b.constant(t, hint);
  cache.set(key, v);
  return v;
}

function hintOf(prefix: string, values: readonly (number | bigint)[]): string {
  const body = values.length <= 6 ? values.map(String).join('_') : `${values.length}`;
  return `${prefix}_${body}`;
}

/** A 0-d constant. */
export function scalar(b: GraphBuilder, value: number | bigint, dtype: DType = 'float32', hint?: string): Value {
  return cachedConstant(b, { dtype, dims: [], data: makeArray([value], dtype) }, hint ?? hintOf('scalar', [value]));
}

/** A 1-D constant (shapes, axes, small tables). */
export function const1d(
  b: GraphBuilder,
  values: readonly (number | bigint)[],
  dtype: DType = 'int64',
  hint?: string,
): Value {
  return cachedConstant(
    b,
    { dtype, dims: [values.length], data: makeArray(values, dtype) },
    hint ?? hintOf('c', values),
  );
}

function operand(b: GraphBuilder, x: Operand, like: DType): Value {
  return typeof x === 'number' ? scalar(b, x, like) : x;
}

function operands(b: GraphBuilder, op: string, x: Operand, y: Operand): [Value, Value] {
  if (typeof x === 'number' && typeof y === 'number') fail(op, 'at least one operand must be a tensor');
  const like = typeof x === 'number' ? (y as Value).dtype : x.dtype;
  return [operand(b, x, like), operand(b, y, like)];
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise

function binary(opType: string, b: GraphBuilder, x: Operand, y: Operand, out?: DType): Value {
  const [a, c] = operands(b, opType, x, y);
  const dtype = sameDtype(opType, [a, c]);
  const shape = broadcastShapes(opType, [a.shape, c.shape]);
  return b.op1(opType, [a, c], {}, { dtypes: [out ?? dtype], shapes: [shape] });
}

export const add = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Add', b, x, y);
export const sub = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Sub', b, x, y);
export const mul = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Mul', b, x, y);
export const div = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Div', b, x, y);
export const max = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Max', b, x, y);
export const min = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Min', b, x, y);
export const equal = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Equal', b, x, y, 'bool');
export const less = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Less', b, x, y, 'bool');
export const greater = (b: GraphBuilder, x: Operand, y: Operand): Value => binary('Greater', b, x, y, 'bool');

function logical(opType: string, b: GraphBuilder, x: Value, y: Value): Value {
  if (x.dtype !== 'bool' || y.dtype !== 'bool') fail(opType, `needs bool inputs, got ${x.dtype} and ${y.dtype}`);
  return binary(opType, b, x, y);
}
export const and = (b: GraphBuilder, x: Value, y: Value): Value => logical('And', b, x, y);
export const or = (b: GraphBuilder, x: Value, y: Value): Value => logical('Or', b, x, y);
export function not(b: GraphBuilder, x: Value): Value {
  if (x.dtype !== 'bool') fail('Not', `needs a bool input, got ${x.dtype}`);
  return b.op1('Not', [x], {}, { shapes: [x.shape] });
}

/** x ** y; the exponent may have its own (numeric) dtype, as ONNX allows. */
export function pow(b: GraphBuilder, x: Value, y: Operand): Value {
  const e = operand(b, y, x.dtype);
  return b.op1('Pow', [x, e], {}, { dtypes: [x.dtype], shapes: [broadcastShapes('Pow', [x.shape, e.shape])] });
}

function unary(opType: string, b: GraphBuilder, x: Value, float = true): Value {
  if (float) needFloat(opType, x);
  return b.op1(opType, [x], {}, { shapes: [x.shape] });
}

export const neg = (b: GraphBuilder, x: Value): Value => unary('Neg', b, x, false);
export const abs = (b: GraphBuilder, x: Value): Value => unary('Abs', b, x, false);
export const exp = (b: GraphBuilder, x: Value): Value => unary('Exp', b, x);
export const log = (b: GraphBuilder, x: Value): Value => unary('Log', b, x);
export const sqrt = (b: GraphBuilder, x: Value): Value => unary('Sqrt', b, x);
export const reciprocal = (b: GraphBuilder, x: Value): Value => unary('Reciprocal', b, x);
export const tanh = (b: GraphBuilder, x: Value): Value => unary('Tanh', b, x);
export const sigmoid = (b: GraphBuilder, x: Value): Value => unary('Sigmoid', b, x);
export const relu = (b: GraphBuilder, x: Value): Value => unary('Relu', b, x);
export const erf = (b: GraphBuilder, x: Value): Value => unary('Erf', b, x);
export const sin = (b: GraphBuilder, x: Value): Value => unary('Sin', b, x);
export const cos = (b: GraphBuilder, x: Value): Value => unary('Cos', b, x);
export const identity = (b: GraphBuilder, x: Value): Value => b.op1('Identity', [x], {}, { shapes: [x.shape] });

export function cast(b: GraphBuilder, x: Value, dtype: DType): Value {
  return b.op1('Cast', [x], { to: attr.int(ONNX_DTYPE[dtype]) }, { dtypes: [dtype], shapes: [x.shape] });
}

/** cond ? x : y, broadcasting all three. */
export function where(b: GraphBuilder, cond: Value, x: Operand, y: Operand): Value {
  if (cond.dtype !== 'bool') fail('Where', `condition '${cond.name}' must be bool, got ${cond.dtype}`);
  const [a, c] = operands(b, 'Where', x, y);
  const dtype = sameDtype('Where', [a, c]);
  const shape = broadcastShapes('Where', [cond.shape, a.shape, c.shape]);
  return b.op1('Where', [cond, a, c], {}, { dtypes: [dtype], shapes: [shape] });
}

// ---------------------------------------------------------------------------------------------------------------
// Matrix products

function matmulShape(op: string, a: Shape, c: Shape): Dim[] | undefined {
  if (a === undefined || c === undefined) return undefined;
  if (a.length === 0 || c.length === 0) fail(op, 'operands must have rank >= 1');
  const a2 = a.length === 1 ? [1, a[0] as Dim] : a;
  const c2 = c.length === 1 ? [c[0] as Dim, 1] : c;
  const k1 = a2[a2.length - 1] as Dim;
  const k2 = c2[c2.length - 2] as Dim;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    fail(op, `inner dimensions differ: ${fmtShape(a)} x ${fmtShape(c)}`);
  }
  const batch = broadcastShapes(op, [a2.slice(0, -2), c2.slice(0, -2)]);
  if (batch === undefined) return undefined;
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2] as Dim);
  if (c.length > 1) out.push(c2[c2.length - 1] as Dim);
  return out;
}

function swapLast2(s: Shape): Shape {
  if (s === undefined || s.length < 2) return s;
  const t = [...s];
  const n = t.length;
  [t[n - 2], t[n - 1]] = [t[n - 1] as Dim, t[n - 2] as Dim];
  return t;
}

export function matmul(b: GraphBuilder, x: Value, w: Value): Value {
  const dtype = sameDtype('MatMul', [x, w]);
  return b.op1('MatMul', [x, w], {}, { dtypes: [dtype], shapes: [matmulShape('MatMul', x.shape, w.shape)] });
}

/**
 * com.microsoft FusedMatMul: alpha · op(a) · op(w) with op = transpose of the last two dims when asked. Use
 * this (not Transpose) on frozen weights: a Transpose of a constant is folded into a second stored copy.
 */
export function fusedMatMul(
  b: GraphBuilder,
  a: Value,
  w: Value,
  opts: { transA?: boolean; transB?: boolean; alpha?: number } = {},
): Value {
  const dtype = sameDtype('FusedMatMul', [a, w]);
  needFloat('FusedMatMul', a);
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if ((transA && (a.shape?.length ?? 2) < 2) || (transB && (w.shape?.length ?? 2) < 2)) {
    fail('FusedMatMul', 'a transposed operand must have rank >= 2');
  }
  const shape = matmulShape(
    'FusedMatMul',
    transA ? swapLast2(a.shape) : a.shape,
    transB ? swapLast2(w.shape) : w.shape,
  );
  const attrs: Record<string, Attr> = {
    alpha: attr.float(opts.alpha ?? 1),
    transA: attr.int(transA ? 1 : 0),
    transB: attr.int(transB ? 1 : 0),
  };
  return b.op1('FusedMatMul', [a, w], attrs, { domain: MS_DOMAIN, dtypes: [dtype], shapes: [shape] });
}

/**
 * com.microsoft RotaryEmbedding, rotate-half form (interleaved 0), on x [B, H, T, hd]: with c = cos[p], s = sin[p]
 * and p = positionIds[b, t], the halves become x1·c − x2·s and x2·c + x1·s. cos/sin: [P, hd/2]; positionIds
 * [B, T] int64 rows of them. One pass where the written-out form (slices, concat, two Muls and an Add) takes six.
 */
export function rotaryEmbedding(b: GraphBuilder, x: Value, positionIds: Value, cos: Value, sin: Value): Value {
  const dtype = sameDtype('RotaryEmbedding', [x, cos, sin]);
  needFloat('RotaryEmbedding', x);
  if (x.shape !== undefined && x.shape.length !== 4) fail('RotaryEmbedding', 'x must be [batch, heads, seq, head_dim]');
  if (positionIds.dtype !== 'int64') fail('RotaryEmbedding', 'position ids must be int64');
  return b.op1(
    'RotaryEmbedding',
    [x, positionIds, cos, sin],
    { interleaved: attr.int(0) },
    {
      domain: MS_DOMAIN,
      dtypes: [dtype],
      shapes: [x.shape],
    },
  );
}

/** com.microsoft QuickGelu: x · sigmoid(alpha · x) in one pass; alpha 1 is SiLU. */
export function quickGelu(b: GraphBuilder, x: Value, alpha = 1): Value {
  needFloat('QuickGelu', x);
  return b.op1(
    'QuickGelu',
    [x],
    { alpha: attr.float(alpha) },
    { domain: MS_DOMAIN, dtypes: [x.dtype], shapes: [x.shape] },
  );
}

/** Gemm: alpha · op(a) · op(w) + beta · c, for 2-D a and w; c broadcasts to [M, N]. */
export function gemm(
  b: GraphBuilder,
  a: Value,
  w: Value,
  c: Value | null = null,
  opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {},
): Value {
  const dtype = sameDtype('Gemm', c === null ? [a, w] : [a, w, c]);
  for (const v of [a, w]) {
    if (v.shape !== undefined && v.shape.length !== 2)
      fail('Gemm', `'${v.name}' must be 2-D, got ${fmtShape(v.shape)}`);
  }
  const sa = opts.transA ? swapLast2(a.shape) : a.shape;
  const sw = opts.transB ? swapLast2(w.shape) : w.shape;
  const shape = matmulShape('Gemm', sa, sw);
  if (c !== null) broadcastShapes('Gemm', [shape, c.shape]);
  const attrs: Record<string, Attr> = {
    alpha: attr.float(opts.alpha ?? 1),
    beta: attr.float(opts.beta ?? 1),
    transA: attr.int(opts.transA ? 1 : 0),
    transB: attr.int(opts.transB ? 1 : 0),
  };
  return b.op1('Gemm', c === null ? [a, w] : [a, w, c], attrs, { dtypes: [dtype], shapes: [shape] });
}

// ---------------------------------------------------------------------------------------------------------------
// Shape manipulation

/**
 * Reshape to a constant target (ONNX rules: 0 copies the input dim, -1 is inferred), or to a runtime shape
 * tensor, with `outShape` telling the builder what that shape will be.
 */
export function reshape(b: GraphBuilder, x: Value, shape: readonly number[] | Value, outShape?: readonly Dim[]): Value {
  if (!Array.isArray(shape)) {
    const s = shape as Value;
    if (s.dtype !== 'int64') fail('Reshape', `shape tensor '${s.name}' must be int64, got ${s.dtype}`);
    return b.op1('Reshape', [x, s], {}, { dtypes: [x.dtype], shapes: [outShape] });
  }
  const target = shape as readonly number[];
  if (target.filter((d) => d === -1).length > 1) fail('Reshape', `at most one -1 in [${target.join(', ')}]`);
  for (const d of target) if (!Number.isInteger(d) || d < -1) fail('Reshape', `bad target dim ${d}`);
  return b.op1(
    'Reshape',
    [x, const1d(b, target, 'int64', 'shape')],
    {},
    { shapes: [outShape ?? reshapeShape(x.shape, target)] },
  );
}

function reshapeShape(input: Shape, target: readonly number[]): Dim[] | undefined {
  const out: (Dim | undefined)[] = [];
  for (let i = 0; i < target.length; i++) {
    const t = target[i] as number;
    if (t === 0) {
      if (input === undefined || i >= input.length) return undefined;
      out.push(input[i]);
    } else out.push(t === -1 ? undefined : t);
  }
  const hole = out.indexOf(undefined);
  if (hole < 0) return out as Dim[];
  if (input === undefined) return undefined;
  const known = dimProduct(out.filter((d): d is Dim => d !== undefined));
  const inferred = dimDivide(dimProduct(input), known);
  if (inferred === undefined) return undefined;
  out[hole] = inferred;
  return out as Dim[];
}

export function transpose(b: GraphBuilder, x: Value, perm: readonly number[]): Value {
  const r = x.shape?.length;
  if (r !== undefined) {
    if (perm.length !== r || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
      fail('Transpose', `perm [${perm.join(', ')}] is not a permutation of rank ${r}`);
    }
  }
  const shape = x.shape === undefined ? undefined : perm.map((p) => x.shape?.[p] as Dim);
  return b.op1('Transpose', [x], { perm: attr.ints(perm) }, { shapes: [shape] });
}

function axesOperand(b: GraphBuilder, axes: readonly number[]): Value {
  return const1d(b, axes, 'int64', 'axes');
}

export function unsqueeze(b: GraphBuilder, x: Value, axes: readonly number[]): Value {
  let shape: Dim[] | undefined;
  if (x.shape !== undefined) {
    const r = x.shape.length + axes.length;
    const norm = axes.map((a) => normAxis('Unsqueeze', a, r));
    if (new Set(norm).size !== norm.length) fail('Unsqueeze', `repeated axes [${axes.join(', ')}]`);
    shape = [];
    let k = 0;
    for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : (x.shape[k++] as Dim));
  }
  if (b.opset >= 13) return b.op1('Unsqueeze', [x, axesOperand(b, axes)], {}, { shapes: [shape] });
  return b.op1('Unsqueeze', [x], { axes: attr.ints(axes) }, { shapes: [shape] });
}

/** Squeeze the given axes (all size-1 dims when omitted; the shape is then only known with fixed dims). */
export function squeeze(b: GraphBuilder, x: Value, axes?: readonly number[]): Value {
  let shape: Dim[] | undefined;
  if (x.shape !== undefined) {
    const s = x.shape;
    if (axes === undefined) {
      shape = s.every((d) => typeof d === 'number') ? s.filter((d) => d !== 1) : undefined;
    } else {
      const norm = axes.map((a) => normAxis('Squeeze', a, s.length));
      for (const a of norm) {
        const d = s[a];
        if (typeof d === 'number' && d !== 1) fail('Squeeze', `axis ${a} has size ${d}, not 1`);
      }
      shape = s.filter((_, i) => !norm.includes(i));
    }
  }
  if (axes === undefined) return b.op1('Squeeze', [x], {}, { shapes: [shape] });
  if (b.opset >= 13) return b.op1('Squeeze', [x, axesOperand(b, axes)], {}, { shapes: [shape] });
  return b.op1('Squeeze', [x], { axes: attr.ints(axes) }, { shapes: [shape] });
}

export function concat(b: GraphBuilder, xs: readonly Value[], axis: number): Value {
  const dtype = sameDtype('Concat', xs);
  let shape: Dim[] | undefined;
  if (xs.every((v) => v.shape !== undefined)) {
    const ss = xs.map((v) => v.shape as readonly Dim[]);
    const r = (ss[0] as readonly Dim[]).length;
    if (ss.some((s) => s.length !== r)) fail('Concat', `ranks differ: ${ss.map(fmtShape).join(', ')}`);
    const a = normAxis('Concat', axis, r);
    shape = [];
    for (let i = 0; i < r; i++) {
      if (i === a) {
        shape.push(dimSum(ss.map((s) => s[i] as Dim)));
        continue;
      }
      const fixed = ss.map((s) => s[i] as Dim).find((d) => typeof d === 'number');
      const dims = ss.map((s) => s[i] as Dim);
      if (dims.some((d) => typeof d === 'number' && d !== fixed)) {
        fail('Concat', `dim ${i} differs: ${ss.map(fmtShape).join(', ')}`);
      }
      shape.push(fixed ?? (dims[0] as Dim));
    }
  }
  return b.op1('Concat', xs, { axis: attr.int(axis) }, { dtypes: [dtype], shapes: [shape] });
}

const BIG = 2 ** 31;

function sliceDim(d: Dim, start: number, end: number, step: number): Dim | undefined {
  if (step === 0) fail('Slice', 'step must not be 0');
  if (typeof d === 'number') {
    let s = start < 0 ? start + d : start;
    let e = end < 0 ? end + d : end;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    return Math.max(0, Math.ceil((e - s) / step));
  }
  if (step !== 1) return undefined;
  if (start >= 0 && end >= BIG) return dimMinus(d, start);
  if (start === 0 && end < 0) return dimMinus(d, -end);
  if (start < 0 && end >= BIG) return -start; // assumes the dim is at least -start long
  return undefined;
}

/** Slice with constant bounds; use a very large `end` (e.g. Number.MAX_SAFE_INTEGER) for "to the end". */
export function slice(
  b: GraphBuilder,
  x: Value,
  starts: readonly number[],
  ends: readonly number[],
  axes?: readonly number[],
  steps?: readonly number[],
): Value {
  const n = starts.length;
  if (ends.length !== n || (axes !== undefined && axes.length !== n) || (steps !== undefined && steps.length !== n)) {
    fail('Slice', 'starts, ends, axes and steps must have the same length');
  }
  const ax = axes ?? starts.map((_, i) => i);
  let shape: Dim[] | undefined;
  if (x.shape !== undefined) {
    const s = x.shape;
    const out: (Dim | undefined)[] = [...s];
    ax.forEach((a, i) => {
      const k = normAxis('Slice', a, s.length);
      out[k] = sliceDim(s[k] as Dim, starts[i] as number, ends[i] as number, steps?.[i] ?? 1);
    });
    shape = out.includes(undefined) ? undefined : (out as Dim[]);
  }
  const clampEnd = (e: number): number => Math.min(Math.max(e, -(2 ** 62)), 2 ** 62);
  const inputs: (Value | null)[] = [
    x,
    const1d(b, starts, 'int64', 'starts'),
    const1d(b, ends.map(clampEnd), 'int64', 'ends'),
    axes === undefined ? null : axesOperand(b, axes),
    steps === undefined ? null : const1d(b, steps, 'int64', 'steps'),
  ];
  while (inputs[inputs.length - 1] === null) inputs.pop();
  return b.op1('Slice', inputs, {}, { dtypes: [x.dtype], shapes: [shape] });
}

function needIndex(op: string, v: Value): void {
  if (v.dtype !== 'int64' && v.dtype !== 'int32')
    fail(op, `indices '${v.name}' must be int64 or int32, got ${v.dtype}`);
}

/** Gather along `axis`: output shape is data[:axis] + indices.shape + data[axis+1:]. */
export function gather(b: GraphBuilder, data: Value, indices: Value, axis = 0): Value {
  needIndex('Gather', indices);
  let shape: Dim[] | undefined;
  if (data.shape !== undefined && indices.shape !== undefined) {
    const a = normAxis('Gather', axis, data.shape.length);
    shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  }
  return b.op1('Gather', [data, indices], { axis: attr.int(axis) }, { dtypes: [data.dtype], shapes: [shape] });
}

export function gatherElements(b: GraphBuilder, data: Value, indices: Value, axis: number): Value {
  needIndex('GatherElements', indices);
  if (data.shape !== undefined) normAxis('GatherElements', axis, data.shape.length);
  return b.op1(
    'GatherElements',
    [data, indices],
    { axis: attr.int(axis) },
    { dtypes: [data.dtype], shapes: [indices.shape] },
  );
}

export function scatterElements(
  b: GraphBuilder,
  data: Value,
  indices: Value,
  updates: Value,
  axis: number,
  reduction: 'none' | 'add' | 'mul' | 'max' | 'min' = 'none',
): Value {
  needIndex('ScatterElements', indices);
  sameDtype('ScatterElements', [data, updates]);
  if (reduction !== 'none' && b.opset < 16) fail('ScatterElements', `reduction '${reduction}' needs opset >= 16`);
  const attrs: Record<string, Attr> = { axis: attr.int(axis) };
  if (reduction !== 'none') attrs.reduction = attr.string(reduction);
  return b.op1('ScatterElements', [data, indices, updates], attrs, { dtypes: [data.dtype], shapes: [data.shape] });
}

/** Broadcast x to a constant shape, or to a runtime shape tensor (with `outShape` as the builder's hint). */
export function expand(b: GraphBuilder, x: Value, shape: readonly number[] | Value, outShape?: readonly Dim[]): Value {
  if (!Array.isArray(shape)) {
    return b.op1('Expand', [x, shape as Value], {}, { dtypes: [x.dtype], shapes: [outShape] });
  }
  const target = shape as readonly number[];
  const out = outShape ?? broadcastShapes('Expand', [x.shape, target]);
  return b.op1('Expand', [x, const1d(b, target, 'int64', 'shape')], {}, { dtypes: [x.dtype], shapes: [out] });
}

/** Shape(x)[start:end] as an int64 1-D tensor. */
export function shape(b: GraphBuilder, x: Value, start?: number, end?: number): Value {
  const attrs: Record<string, Attr> = {};
  if (start !== undefined) attrs.start = attr.int(start);
  if (end !== undefined) attrs.end = attr.int(end);
  let len: number | undefined;
  if (x.shape !== undefined) {
    const r = x.shape.length;
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    len = Math.max(0, clamp(end ?? r) - clamp(start ?? 0));
  }
  return b.op1('Shape', [x], attrs, { dtypes: ['int64'], shapes: [len === undefined ? undefined : [len]] });
}

/** A tensor of `shape` (a runtime int64 1-D tensor) filled with `value`. */
export function constantOfShape(
  b: GraphBuilder,
  shapeTensor: Value,
  value: number,
  dtype: DType,
  outShape?: readonly Dim[],
): Value {
  const t: TensorData = { dtype, dims: [1], data: makeArray([value], dtype) };
  return b.op1('ConstantOfShape', [shapeTensor], { value: attr.tensor(t) }, { dtypes: [dtype], shapes: [outShape] });
}

/** Lower (upper=false) or upper triangle of the last two dims, offset by k. */
export function trilu(b: GraphBuilder, x: Value, upper: boolean, k = 0): Value {
  const inputs = k === 0 ? [x] : [x, scalar(b, k, 'int64', 'k')];
  return b.op1('Trilu', inputs, { upper: attr.int(upper ? 1 : 0) }, { shapes: [x.shape] });
}

/** Range(start, limit, delta); numbers become scalars of `dtype`. The length is known when all three are numbers. */
export function range(
  b: GraphBuilder,
  start: Operand,
  limit: Operand,
  delta: Operand = 1,
  dtype: DType = 'int64',
  length?: Dim,
): Value {
  let len: Dim | undefined = length;
  if (len === undefined && typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') {
    len = Math.max(0, Math.ceil((limit - start) / delta));
  }
  const vs = [start, limit, delta].map((v) => operand(b, v, dtype));
  const dt = sameDtype('Range', vs);
  return b.op1('Range', vs, {}, { dtypes: [dt], shapes: [len === undefined ? undefined : [len]] });
}

// ---------------------------------------------------------------------------------------------------------------
// Reductions

function reducedShape(op: string, s: Shape, axes: readonly number[], keepdims: boolean): Dim[] | undefined {
  if (s === undefined) return undefined;
  const norm = axes.length === 0 ? s.map((_, i) => i) : axes.map((a) => normAxis(op, a, s.length));
  const out: Dim[] = [];
  s.forEach((d, i) => {
    if (!norm.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/** ReduceSum takes `axes` as an input from opset 13; the other Reduce* ops from opset 18. */
function reduce(
  opType: string,
  inputSince: number,
  b: GraphBuilder,
  x: Value,
  axes: readonly number[],
  keepdims: boolean,
): Value {
  const shape = reducedShape(opType, x.shape, axes, keepdims);
  const attrs: Record<string, Attr> = { keepdims: attr.int(keepdims ? 1 : 0) };
  if (b.opset >= inputSince) {
    const inputs = axes.length === 0 ? [x] : [x, axesOperand(b, axes)];
    return b.op1(opType, inputs, attrs, { shapes: [shape] });
  }
  if (axes.length > 0) attrs.axes = attr.ints(axes);
  return b.op1(opType, [x], attrs, { shapes: [shape] });
}

/** Empty `axes` reduces over every axis. */
export const reduceSum = (b: GraphBuilder, x: Value, axes: readonly number[], keepdims = true): Value =>
  reduce('ReduceSum', 13, b, x, axes, keepdims);
export const reduceMean = (b: GraphBuilder, x: Value, axes: readonly number[], keepdims = true): Value =>
  reduce('ReduceMean', 18, b, x, axes, keepdims);
export const reduceMax = (b: GraphBuilder, x: Value, axes: readonly number[], keepdims = true): Value =>
  reduce('ReduceMax', 18, b, x, axes, keepdims);
export const reduceSumSquare = (b: GraphBuilder, x: Value, axes: readonly number[], keepdims = true): Value =>
  reduce('ReduceSumSquare', 18, b, x, axes, keepdims);

export function argMax(b: GraphBuilder, x: Value, axis: number, keepdims = true): Value {
  const shape = reducedShape('ArgMax', x.shape, [axis], keepdims);
  return b.op1(
    'ArgMax',
    [x],
    { axis: attr.int(axis), keepdims: attr.int(keepdims ? 1 : 0) },
    { dtypes: ['int64'], shapes: [shape] },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation, softmax, loss

function softmaxLike(opType: string, b: GraphBuilder, x: Value, axis: number): Value {
  needFloat(opType, x);
  if (x.shape !== undefined) normAxis(opType, axis, x.shape.length);
  return b.op1(opType, [x], { axis: attr.int(axis) }, { shapes: [x.shape] });
}
export const softmax = (b: GraphBuilder, x: Value, axis = -1): Value => softmaxLike('Softmax', b, x, axis);
export const logSoftmax = (b: GraphBuilder, x: Value, axis = -1): Value => softmaxLike('LogSoftmax', b, x, axis);

function statsDtype(x: Value): DType {
  return x.dtype === 'float64' ? 'float64' : 'float32';
}

function statsShape(op: string, s: Shape, axis: number): Dim[] | undefined {
  if (s === undefined) return undefined;
  const a = normAxis(op, axis, s.length);
  return s.map((d, i) => (i < a ? d : 1));
}

export interface NormOptions {
  /** First normalised axis (default -1: the last). */
  axis?: number;
  epsilon?: number;
}

/** Standard LayerNormalization (opset 17) with its saved mean and inverse standard deviation. */
export function layerNormWithStats(
  b: GraphBuilder,
  x: Value,
  scale: Value,
  bias: Value | null,
  opts: NormOptions = {},
): { y: Value; mean: Value; invStdDev: Value } {
  needFloat('LayerNormalization', x);
  if (b.opset < 17) fail('LayerNormalization', `needs opset >= 17 (builder has ${b.opset})`);
  sameDtype('LayerNormalization', bias === null ? [x, scale] : [x, scale, bias]);
  const axis = opts.axis ?? -1;
  const st = statsShape('LayerNormalization', x.shape, axis);
  const attrs = { axis: attr.int(axis), epsilon: attr.float(opts.epsilon ?? 1e-5) };
  const [y, mean, invStdDev] = b.op('LayerNormalization', bias === null ? [x, scale] : [x, scale, bias], attrs, {
    outputs: 3,
    dtypes: [x.dtype, statsDtype(x), statsDtype(x)],
    shapes: [x.shape, st, st],
  }) as [Value, Value, Value];
  return { y, mean, invStdDev };
}

export function layerNorm(b: GraphBuilder, x: Value, scale: Value, bias: Value | null, opts: NormOptions = {}): Value {
  needFloat('LayerNormalization', x);
  if (b.opset < 17) fail('LayerNormalization', `needs opset >= 17 (builder has ${b.opset})`);
  sameDtype('LayerNormalization', bias === null ? [x, scale] : [x, scale, bias]);
  const attrs = { axis: attr.int(opts.axis ?? -1), epsilon: attr.float(opts.epsilon ?? 1e-5) };
  return b.op1('LayerNormalization', bias === null ? [x, scale] : [x, scale, bias], attrs, { shapes: [x.shape] });
}

/**
 * RMS norm, x / sqrt(mean(x²) + eps) · scale, as onnxruntime's SimplifiedLayerNormalization (registered by
 * onnxruntime in the default domain), computed in float32 for half inputs. `invStdVar` is saved for the backward.
 */
export function simplifiedLayerNormWithStats(
  b: GraphBuilder,
  x: Value,
  scale: Value,
  opts: NormOptions = {},
): { y: Value; invStdVar: Value } {
  needFloat('SimplifiedLayerNormalization', x);
  sameDtype('SimplifiedLayerNormalization', [x, scale]);
  const axis = opts.axis ?? -1;
  const attrs = { axis: attr.int(axis), epsilon: attr.float(opts.epsilon ?? 1e-5), stash_type: attr.int(1) };
  const [y, invStdVar] = b.op('SimplifiedLayerNormalization', [x, scale], attrs, {
    outputs: 2,
    dtypes: [x.dtype, statsDtype(x)],
    shapes: [x.shape, statsShape('SimplifiedLayerNormalization', x.shape, axis)],
  }) as [Value, Value];
  return { y, invStdVar };
}

export function simplifiedLayerNorm(b: GraphBuilder, x: Value, scale: Value, opts: NormOptions = {}): Value {
  needFloat('SimplifiedLayerNormalization', x);
  sameDtype('SimplifiedLayerNormalization', [x, scale]);
  const attrs = { axis: attr.int(opts.axis ?? -1), epsilon: attr.float(opts.epsilon ?? 1e-5), stash_type: attr.int(1) };
  return b.op1('SimplifiedLayerNormalization', [x, scale], attrs, { shapes: [x.shape] });
}

/**
 * SoftmaxCrossEntropyLoss over scores [N, C, ...] and int64 labels [N, ...]; returns the loss and log-probs.
 * Forward only: its gradient kernel is not in the regular onnxruntime build.
 */
export function softmaxCrossEntropyLoss(
  b: GraphBuilder,
  scores: Value,
  labels: Value,
  opts: { reduction?: 'mean' | 'sum' | 'none'; ignoreIndex?: number } = {},
): { loss: Value; logProb: Value } {
  needFloat('SoftmaxCrossEntropyLoss', scores);
  needIndex('SoftmaxCrossEntropyLoss', labels);
  const reduction = opts.reduction ?? 'mean';
  const attrs: Record<string, Attr> = { reduction: attr.string(reduction) };
  if (opts.ignoreIndex !== undefined) attrs.ignore_index = attr.int(opts.ignoreIndex);
  const [loss, logProb] = b.op('SoftmaxCrossEntropyLoss', [scores, labels], attrs, {
    outputs: 2,
    dtypes: [scores.dtype, scores.dtype],
    shapes: [reduction === 'none' ? labels.shape : [], scores.shape],
  }) as [Value, Value];
  return { loss, logProb };
}
