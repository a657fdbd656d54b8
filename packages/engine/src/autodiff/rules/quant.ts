// Quantized frozen weights. com.microsoft MatMulNBits computes Y = A · dequant(B)ᵀ with B packed 4- or 8-bit and
// never differentiable (integer codes, constant scales). The input gradient dA = dY · dequant(B) dequantizes the
// same stored bytes again in the backward — bit operations and a block-wise DequantizeLinear, gated on dY so it
// runs when needed — instead of keeping a float copy of the weight from the forward (QLoRA's recipe).

import type { Value } from '../../onnx/ir.js';
import { dequantizeNBits } from '../../quant/graph.js';
import { matmulT } from '../emit.js';
import type { GradContext, RuleEntry } from './context.js';
import { go0 } from './elementwise.js';

function matMulNBitsGrad(ctx: GradContext): (Value | null)[] {
  const nulls = ctx.node.inputs.map(() => null);
  if (!ctx.needs(0)) return nulls;
  for (const [i, what] of [
    [3, 'zero_points'],
    [4, 'g_idx'],
  ] as const) {
    if (ctx.hasInput(i))
      ctx.unsupported(`${what} are not supported (quantize symmetrically with the default zero point)`);
  }
  const bits = ctx.attrInt('bits', 4);
  if (bits !== 4 && bits !== 8) ctx.unsupported(`bits=${bits}: only 4 and 8 are supported`);
  const a = ctx.I(0);
  if (a.dtype !== 'float32') ctx.unsupported(`input A is ${a.dtype}; the backward dequantizes to float32`);
  const w = dequantizeNBits(ctx.b, ctx.after(ctx.I(1)), ctx.I(2), {
    outFeatures: ctx.attrInt('N', 0),
    inFeatures: ctx.attrInt('K', 0),
    blockSize: ctx.attrInt('block_size', 0),
    bits,
  }); // [N, K]
  const da = matmulT(ctx.b, go0(ctx), w, false, false); // [..., N] · [N, K]
  return [da, ...nulls.slice(1)];
}

export const quantRules: Record<string, RuleEntry> = {
  'com.microsoft:MatMulNBits': { grad: matMulNBitsGrad },
};
