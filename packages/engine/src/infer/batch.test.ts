import { describe, expect, it } from 'vitest';
import { leftPad, positionIdsFromMask } from './batch.js';

describe('leftPad', () => {
  it('pads on the left with a zero mask on pads', () => {
    const b = leftPad([[5, 6, 7], [8]], 0);
    expect(b.seq).toBe(3);
    expect(Array.from(b.inputIds)).toEqual([5n, 6n, 7n, 0n, 0n, 8n]);
    expect(Array.from(b.attentionMask)).toEqual([1n, 1n, 1n, 0n, 0n, 1n]);
    expect(b.lengths).toEqual([3, 1]);
  });
  it('rejects empty prompts and batches', () => {
    expect(() => leftPad([], 0)).toThrow(/no prompts/);
    expect(() => leftPad([[1], []], 0)).toThrow(/prompt 1/);
  });
});

describe('positionIdsFromMask', () => {
  it('is cumsum(mask) - 1 with pads at 1', () => {
    const mask = BigInt64Array.from([0n, 0n, 1n, 1n, 1n, 1n, 1n, 1n, 0n, 1n, 1n, 1n]);
    expect(Array.from(positionIdsFromMask(mask, 2, 6))).toEqual([1n, 1n, 0n, 1n, 2n, 3n, 0n, 1n, 1n, 2n, 3n, 4n]);
  });
});
