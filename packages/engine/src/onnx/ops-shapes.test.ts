import { describe, expect, it } from 'vitest';
import { GraphBuildError, GraphBuilder } from './builder.js';
import { dimDivide, dimProduct } from './dims.js';
import { bfloat16Bits, bfloat16ToNumber, float16Bits, float16ToNumber } from './dtypes.js';
import * as op from './ops.js';

describe('shape inference', () => {
  it('propagates symbolic dims through reshape round trips', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', ['batch', 'seq', 64]);
    const flat = op.reshape(b, x, [-1, 64]);
    expect(flat.shape).toEqual(['batch*seq', 64]);
    const heads = op.reshape(b, x, [0, 0, 8, 8]);
    expect(heads.shape).toEqual(['batch', 'seq', 8, 8]);
    const back = op.reshape(b, flat, [-1, 8, 8]);
    expect(back.shape).toEqual(['batch*seq', 8, 8]);
    expect(dimDivide(dimProduct(['batch', 'seq', 4]), 'seq')).toBe('4*batch');
  });

  it('broadcasts and rejects incompatible fixed dims', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', ['batch', 1, 5]);
    const y = b.input('y', 'float32', [3, 1]);
    expect(op.add(b, x, y).shape).toEqual(['batch', 3, 5]);
    expect(op.mul(b, x, 2).shape).toEqual(['batch', 1, 5]);
    const z = b.input('z', 'float32', [4]);
    expect(() => op.add(b, x, z)).toThrow(GraphBuildError);
    const i = b.input('i', 'int64', [5]);
    expect(() => op.add(b, x, i)).toThrow(/dtype mismatch/);
  });

  it('infers matmul, fusedMatMul, concat, slice, gather and reductions', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', ['batch', 'seq', 16]);
    const w = b.input('w', 'float32', [32, 16]);
    expect(op.fusedMatMul(b, x, w, { transB: true }).shape).toEqual(['batch', 'seq', 32]);
    expect(() => op.matmul(b, x, w)).toThrow(/inner dimensions/);
    const past = b.input('past', 'float32', ['batch', 'past', 16]);
    expect(op.concat(b, [past, x], 1).shape).toEqual(['batch', 'past+seq', 16]);
    expect(op.slice(b, x, [0], [-1], [1]).shape).toEqual(['batch', 'seq-1', 16]);
    expect(op.slice(b, x, [2], [10], [2]).shape).toEqual(['batch', 'seq', 8]);
    const ids = b.input('ids', 'int64', ['batch', 'seq']);
    const emb = b.input('emb', 'float32', [100, 16]);
    expect(op.gather(b, emb, ids, 0).shape).toEqual(['batch', 'seq', 16]);
    expect(op.reduceSum(b, x, [-1], false).shape).toEqual(['batch', 'seq']);
    expect(op.reduceMean(b, x, [1], true).shape).toEqual(['batch', 1, 16]);
    expect(op.unsqueeze(b, ids, [1, 2]).shape).toEqual(['batch', 1, 1, 'seq']);
    expect(op.squeeze(b, op.unsqueeze(b, ids, [1]), [1]).shape).toEqual(['batch', 'seq']);
    expect(op.transpose(b, x, [0, 2, 1]).shape).toEqual(['batch', 16, 'seq']);
    expect(op.shape(b, x).shape).toEqual([3]);
    expect(op.equal(b, ids, 0).dtype).toBe('bool');
  });

  it('emits reduce axes as attribute or input by opset', () => {
    for (const [opset, sumInputs, meanInputs] of [
      [12, 1, 1],
      [13, 2, 1],
      [18, 2, 2],
    ] as const) {
      const b = new GraphBuilder('t', { opset });
      const x = b.input('x', 'float32', [2, 3]);
      op.reduceSum(b, x, [1]);
      op.reduceMean(b, x, [1]);
      const [s, m] = b.build().nodes;
      expect(s?.inputs.length).toBe(sumInputs);
      expect(m?.inputs.length).toBe(meanInputs);
      expect('axes' in (m?.attrs ?? {})).toBe(meanInputs === 1);
    }
  });

  it('shares identical constants', () => {
    const b = new GraphBuilder('t');
    const x = b.input('x', 'float32', [2, 3]);
    op.unsqueeze(b, x, [0]);
    op.unsqueeze(b, x, [0]);
    expect(b.build().initializers.length).toBe(1);
  });

  it('converts half floats with round-to-nearest-even', () => {
    for (const v of [0, 1, -2.5, 65504, 1e-7, 6.1e-5, 0.1, 2.71]) {
      expect(Math.abs(float16ToNumber(float16Bits(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(bfloat16ToNumber(bfloat16Bits(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8);
    }
    expect(float16Bits(70000)).toBe(0x7c00);
    expect(float16Bits(1)).toBe(0x3c00);
    expect(bfloat16Bits(1)).toBe(0x3f80);
  });
});
