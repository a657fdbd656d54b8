// Backward-only emission helpers that onnx/ops.ts does not have: ops whose axes or shapes are runtime tensors
// (the backward often only knows a shape by asking for it), scatters into zeros, and a matmul with transpose
// flags that uses com.microsoft FusedMatMul where onnxruntime has a kernel for it.

import type { GraphBuilder } from '../onnx/builder.js';
import { type Attr, attr, type Dim, type DType, MS_DOMAIN, type Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import { AutodiffError } from './errors.js';

/** Shape(x) as a constant when every dim is a fixed number, else as a runtime Shape node. */
export function shapeOf(b: GraphBuilder, x: Value): Value {
  const s = x.shape;
  if (s?.every((d): d is number => typeof d === 'number')) return ops.const1d(b, s as number[], 'int64', 'shape');
  return ops.shape(b, x);
}

/** Reshape g to x's shape (the backward of every view op). */
export function reshapeLike(b: GraphBuilder, g: Value, x: Value): Value {
  return ops.reshape(b, g, shapeOf(b, x), x.shape);
}

/** Zeros with x's shape and dtype. */
export function zerosLike(b: GraphBuilder, x: Value): Value {
  return ops.constantOfShape(b, shapeOf(b, x), 0, x.dtype, x.shape);
}

/** Number of elements as an int64 scalar. */
export function size(b: GraphBuilder, x: Value): Value {
  return b.op1('Size', [x], {}, { dtypes: ['int64'], shapes: [[]] });
}

/** ReduceSum with axes given as constants or as a runtime int64 tensor (axes are an input from opset 13). */
export function reduceSumAxes(
  b: GraphBuilder,
  x: Value,
  axes: readonly number[] | Value | null,
  keepdims: boolean,
  noopWithEmptyAxes = false,
): Value {
  if (axes !== null && Array.isArray(axes)) return ops.reduceSum(b, x, axes as readonly number[], keepdims);
  const attrs = { keepdims: attr.int(keepdims ? 1 : 0), noop_with_empty_axes: attr.int(noopWithEmptyAxes ? 1 : 0) };
  return b.op1('ReduceSum', axes === null ? [x] : [x, axes as Value], attrs, { dtypes: [x.dtype] });
}

/** Unsqueeze with constant or runtime axes. */
export function unsqueezeAxes(b: GraphBuilder, x: Value, axes: readonly number[] | Value): Value {
  if (Array.isArray(axes)) return ops.unsqueeze(b, x, axes as readonly number[]);
  return b.op1('Unsqueeze', [x, axes as Value], {}, { dtypes: [x.dtype] });
}

export function scatterND(
  b: GraphBuilder,
  data: Value,
  indices: Value,
  updates: Value,
  reduction: 'none' | 'add',
): Value {
  const attrs: Record<string, Attr> = reduction === 'none' ? {} : { reduction: attr.string(reduction) };
  return b.op1('ScatterND', [data, indices, updates], attrs, { dtypes: [data.dtype], shapes: [data.shape] });
}

/** Swaps the last two axes; needs the rank. Only used on activations and gradients, never on frozen weights. */
export function transposeLast2(b: GraphBuilder, x: Value, what: string): Value {
  const r = x.shape?.length;
  if (r === undefined || r < 2) {
    throw new AutodiffError('unsupported', `${what}: transposing '${x.name}' needs a known rank >= 2`);
  }
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return ops.transpose(b, x, perm);
}

/**
 * alpha · op(a) · op(w), op = optional transpose of the last two dims. float32 goes through FusedMatMul (no
 * Transpose node, so no transposed copy of a frozen weight after constant folding); other dtypes, which
 * onnxruntime's CPU FusedMatMul does not cover, through Transpose + MatMul.
 */
export function matmulT(b: GraphBuilder, a: Value, w: Value, transA: boolean, transB: boolean, alpha = 1): Value {
  if (a.dtype === 'float32') return ops.fusedMatMul(b, a, w, { transA, transB, alpha });
  const a2 = transA ? transposeLast2(b, a, 'MatMul backward') : a;
  const w2 = transB ? transposeLast2(b, w, 'MatMul backward') : w;
  const y = ops.matmul(b, a2, w2);
  return alpha === 1 ? y : ops.mul(b, y, alpha);
}

/** Collapses all but the last axis: [..., K] -> [N, K] (a linear layer's activations as one GEMM operand). */
export function flattenTo2D(b: GraphBuilder, x: Value): Value {
  const s = x.shape;
  const last = s?.[s.length - 1];
  if (typeof last === 'number') return ops.reshape(b, x, [-1, last]);
  const target = ops.concat(b, [ops.const1d(b, [-1], 'int64', 'shape'), ops.shape(b, x, -1)], 0);
  return ops.reshape(b, x, target);
}

/**
 * The dtype of a norm's saved statistics in onnxruntime (stash_type 1): float32, even for float64 inputs. For
 * float64 inputs the rules recompute them instead (null), since float32 statistics would cap the gradient's
 * precision at float32's.
 */
export function statsDtype(x: DType): DType | null {
  return x === 'float64' ? null : 'float32';
}

/** x with dtype `to` (no node when it already has it). */
export function castTo(b: GraphBuilder, x: Value, to: DType): Value {
  return x.dtype === to ? x : ops.cast(b, x, to);
}

export function dimsEqual(a: readonly Dim[] | undefined, c: readonly Dim[] | undefined): boolean {
  return a !== undefined && c !== undefined && a.length === c.length && a.every((d, i) => d === c[i]);
}

export const MS = MS_DOMAIN;
