// Quantized linears in the graph. Forward: int4 through com.microsoft MatMulNBits (its packed B is the stored
// form, nothing float is kept); int8 through a per-output-channel DequantizeLinear feeding the usual FusedMatMul,
// a float transient that lives only until that product. onnxruntime does not constant-fold DequantizeLinear, so
// no float copy of the weight ends up stored in the session. The backward (autodiff/rules/quant.ts and the
// sweep's recomputation of constant DequantizeLinear nodes) dequantizes again instead of keeping the forward's.

import type { GraphBuilder } from '../onnx/builder.js';
import { attr, MS_DOMAIN, type Value } from '../onnx/ir.js';
import * as ops from '../onnx/ops.js';
import type { QuantizedWeight } from './types.js';

interface Stored {
  readonly data: Value;
  readonly scales: Value;
}

const stored = new WeakMap<GraphBuilder, Map<string, Stored>>();

/** The initialisers of a quantized weight, created once per builder (a tied use reads the same ones). */
function initializers(b: GraphBuilder, q: QuantizedWeight): Stored {
  let m = stored.get(b);
  if (m === undefined) {
    m = new Map();
    stored.set(b, m);
  }
  const hit = m.get(q.name);
  if (hit !== undefined) return hit;
  const s: Stored =
    q.kind === 'int8'
      ? {
          data: b.initializer(`${q.name}.qweight`, { dtype: 'int8', dims: [q.outFeatures, q.inFeatures], data: q.q }),
          scales: b.initializer(`${q.name}.qscales`, { dtype: 'float32', dims: [q.outFeatures], data: q.scales }),
        }
      : {
          data: b.initializer(`${q.name}.qweight`, {
            dtype: 'uint8',
            dims: [q.outFeatures, q.inFeatures / q.blockSize, q.blockSize / 2],
            data: q.packed,
          }),
          scales: b.initializer(`${q.name}.qscales`, {
            dtype: 'float32',
            dims: [q.scales.length],
            data: q.scales,
          }),
        };
  m.set(q.name, s);
  return s;
}

/** Per-output-channel int8 dequantization of a [out, in] int8 tensor: [out, in] float32. */
export function dequantizeInt8(b: GraphBuilder, data: Value, scales: Value, axis = 0): Value {
  return b.op1(
    'DequantizeLinear',
    [data, scales],
    { axis: attr.int(axis) },
    { dtypes: ['float32'], shapes: [data.shape] },
  );
}

/**
 * MatMulNBits' packed B [out, in/block, block/2] (4 bits) or [out, in/block, block] (8 bits) with scales
 * [out · in/block] and the default zero point (8 or 128) back to float32 [out, in]: the nibbles are split with
 * bit operations and a block-wise DequantizeLinear (opset 21) applies scales and zero point.
 */
export function dequantizeNBits(
  b: GraphBuilder,
  packed: Value,
  scales: Value,
  dims: { outFeatures: number; inFeatures: number; blockSize: number; bits: number },
): Value {
  const { outFeatures: N, inFeatures: K, blockSize: bs, bits } = dims;
  const nb = K / bs;
  let codes: Value;
  if (bits === 4) {
    const bytes = ops.reshape(b, packed, [N, K / 2]);
    const lo = b.op1('BitwiseAnd', [bytes, ops.scalar(b, 15, 'uint8')], {}, { shapes: [[N, K / 2]] });
    const hi = b.op1(
      'BitShift',
      [bytes, ops.scalar(b, 4, 'uint8')],
      { direction: attr.string('RIGHT') },
      { shapes: [[N, K / 2]] },
    );
    // low nibble first: element 2j is byte j's low nibble, 2j+1 its high one
    codes = ops.reshape(b, ops.concat(b, [ops.unsqueeze(b, lo, [-1]), ops.unsqueeze(b, hi, [-1])], -1), [N, K]);
  } else {
    codes = ops.reshape(b, packed, [N, K]);
  }
  const zero = b.constant(
    { dtype: 'uint8', dims: [N, nb], data: new Uint8Array(N * nb).fill(1 << (bits - 1)) },
    'qzero',
  );
  return b.op1(
    'DequantizeLinear',
    [codes, ops.reshape(b, scales, [N, nb]), zero],
    { axis: attr.int(1), block_size: attr.int(bs) },
    { dtypes: ['float32'], shapes: [[N, K]] },
  );
}

/** y = x · Wᵀ for x [N, in] and a quantized W: [N, out]. */
export function quantizedMatMul(b: GraphBuilder, x: Value, q: QuantizedWeight): Value {
  const s = initializers(b, q);
  if (q.kind === 'int8') return ops.fusedMatMul(b, x, dequantizeInt8(b, s.data, s.scales), { transB: true });
  const rows = x.shape?.[0] ?? 'rows';
  return b.op1(
    'MatMulNBits',
    [x, s.data, s.scales],
    {
      K: attr.int(q.inFeatures),
      N: attr.int(q.outFeatures),
      bits: attr.int(4),
      block_size: attr.int(q.blockSize),
    },
    { domain: MS_DOMAIN, dtypes: ['float32'], shapes: [[rows, q.outFeatures]] },
  );
}

/**
 * The weight as float32 in the checkpoint's layout, for hooks that read it (DoRA's norm). Built only when a
 * hook uses it (unused nodes are pruned). For int4 onnxruntime folds the bit operations on the stored bytes,
 * which keeps a one-byte-per-element code tensor for such a weight; the float values are computed per run.
 */
export function dequantizedWeight(b: GraphBuilder, q: QuantizedWeight): Value {
  const s = initializers(b, q);
  const w =
    q.kind === 'int8' ? dequantizeInt8(b, s.data, s.scales) : dequantizeNBits(b, s.data, s.scales, { ...q, bits: 4 });
  return q.layout === 'out_in' ? w : ops.transpose(b, w, [1, 0]);
}
