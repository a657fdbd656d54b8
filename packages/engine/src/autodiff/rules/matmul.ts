// Matrix products. Weight gradients of linear layers (activations [..., K] times a 2-D weight) are computed as
// one GEMM over the flattened activations with a transpose flag (ENGINE-NOTES: keep activations 2-D, never
// Transpose a frozen weight); other batch-broadcast cases go through the shared unbroadcast helper.

import type { Dim, Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { unbroadcast } from '../broadcast.js';
import { flattenTo2D, matmulT } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

/** The shape a gradient computed at full batch size has: the output's batch dims plus the operand's matrix dims. */
function batchedShape(out: readonly Dim[] | undefined, operand: readonly Dim[] | undefined): Dim[] | undefined {
  if (out === undefined || operand === undefined || out.length < 2 || operand.length < 2) return undefined;
  return [...out.slice(0, -2), ...operand.slice(-2)];
}

function rank(v: Value): number | undefined {
  return v.shape?.length;
}

function matmulGrad(ctx: GradContext): (Value | null)[] {
  const { b } = ctx;
  let a = ctx.I(0);
  let w = ctx.I(1);
  let g = go0(ctx);
  const ra = rank(a);
  const rw = rank(w);
  // 1-D operands: MatMul promotes them to matrices and drops the added axis from the result; do the same.
  if (rw === 1) {
    w = ops.unsqueeze(b, w, [-1]);
    g = ops.unsqueeze(b, g, [-1]);
  }
  if (ra === 1) {
    a = ops.unsqueeze(b, a, [0]);
    g = ops.unsqueeze(b, g, [-2]);
  }
  const outShape = ra === 1 || rw === 1 ? undefined : ctx.O(0).shape;
  const ra2 = rank(a);
  const rw2 = rank(w);

  let da: Value | null = null;
  if (ctx.needs(0)) {
    const full = matmulT(b, g, w, false, true); // g · wᵀ
    // With a 2-D w the result already has a's batch dims: nothing to reduce.
    da = rw2 === 2 && ra2 !== undefined && ra2 >= 2 ? full : unbroadcast(b, full, batchedShape(outShape, a.shape), a);
    if (ra === 1) da = ops.reshape(b, da, [-1]);
  }

  let dw: Value | null = null;
  if (ctx.needs(1)) {
    if (rw2 === 2 && ra2 !== undefined && ra2 > 2) {
      // Linear layer: sum over every row of the batch in one GEMM, [N, K]ᵀ · [N, M] -> [K, M].
      dw = matmulT(b, flattenTo2D(b, a), flattenTo2D(b, g), true, false);
    } else {
      const full = matmulT(b, a, g, true, false); // aᵀ · g
      dw = ra2 === 2 && rw2 !== undefined && rw2 >= 2 ? full : unbroadcast(b, full, batchedShape(outShape, w.shape), w);
    }
    if (rw === 1) dw = ops.reshape(b, dw, [-1]);
  }
  return [da, dw];
}

/**
 * Y = alpha · op(A) · op(B). With op(X) = X or Xᵀ:
 *   dA = alpha · G · op(B)ᵀ (transA = 0)   or   alpha · op(B) · Gᵀ (transA = 1)
 *   dB = alpha · op(A)ᵀ · G (transB = 0)   or   alpha · Gᵀ · op(A) (transB = 1)
 * each written as one product with transpose flags. `mm` is FusedMatMul or Gemm.
 */
function transposedProductGrads(
  ctx: GradContext,
  mm: (x: Value, y: Value, tx: boolean, ty: boolean, alpha: number) => Value,
  reduceTo: (grad: Value, i: number) => Value,
): [Value | null, Value | null] {
  const a = ctx.I(0);
  const w = ctx.I(1);
  const g = go0(ctx);
  const tA = ctx.attrInt('transA', 0) !== 0;
  const tB = ctx.attrInt('transB', 0) !== 0;
  const alpha = ctx.attrFloat('alpha', 1);
  const da = ctx.needs(0) ? reduceTo(tA ? mm(w, g, tB, true, alpha) : mm(g, w, false, !tB, alpha), 0) : null;
  const dw = ctx.needs(1) ? reduceTo(tB ? mm(g, a, true, tA, alpha) : mm(a, g, !tA, false, alpha), 1) : null;
  return [da, dw];
}

function fusedMatMulGrad(ctx: GradContext): (Value | null)[] {
  if (ctx.attrInt('transBatchA', 0) !== 0 || ctx.attrInt('transBatchB', 0) !== 0) {
    ctx.unsupported('transBatchA/transBatchB are not supported');
  }
  for (const i of [0, 1]) {
    const r = rank(ctx.I(i));
    if (r !== undefined && r < 2) ctx.unsupported('1-D operands are not supported');
  }
  const outShape = ctx.O(0).shape;
  return transposedProductGrads(
    ctx,
    (x, y, tx, ty, alpha) => ops.fusedMatMul(ctx.b, x, y, { transA: tx, transB: ty, alpha }),
    (grad, i) => {
      const other = rank(ctx.I(1 - i));
      const mine = rank(ctx.I(i));
      if (other === 2 && mine !== undefined) return grad;
      return unbroadcast(ctx.b, grad, batchedShape(outShape, ctx.I(i).shape), ctx.I(i));
    },
  );
}

function gemmGrad(ctx: GradContext): (Value | null)[] {
  const [da, dw] = transposedProductGrads(
    ctx,
    (x, y, tx, ty, alpha) => ops.gemm(ctx.b, x, y, null, { transA: tx, transB: ty, alpha }),
    (grad) => grad,
  );
  let dc: Value | null = null;
  if (ctx.hasInput(2) && ctx.needs(2)) {
    const beta = ctx.attrFloat('beta', 1);
    const g = go0(ctx);
    dc = unbroadcast(ctx.b, beta === 1 ? g : ops.mul(ctx.b, g, beta), ctx.O(0).shape, ctx.I(2));
  }
  return [da, dw, dc];
}

export const matmulRules: Record<string, RuleEntry> = {
  ':MatMul': { grad: matmulGrad },
  'com.microsoft:FusedMatMul': { grad: fusedMatMulGrad },
  ':Gemm': { grad: gemmGrad },
};
