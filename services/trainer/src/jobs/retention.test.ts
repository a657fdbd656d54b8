import { describe, expect, it } from 'vitest';
import { bestStep, retainedSteps } from './retention.js';

describe('checkpoint retention', () => {
  const cks = [
    { step: 2, validationLoss: 2.0 },
    { step: 4, validationLoss: 1.5 },
    { step: 6 },
    { step: 8, validationLoss: 1.5 },
    { step: 10, validationLoss: 1.7 },
  ];

  it('keeps the newest `limit` and the best by validation loss (earliest on a tie)', () => {
    expect(bestStep(cks)).toBe(4);
    expect([...retainedSteps(cks, 2)].sort((a, b) => a - b)).toEqual([4, 8, 10]);
    expect([...retainedSteps(cks, 1)].sort((a, b) => a - b)).toEqual([4, 10]);
  });

  it('keeps all with limit 0, only the newest without evaluations, and ignores non-finite losses', () => {
    expect(retainedSteps(cks, 0).size).toBe(5);
    expect([...retainedSteps([{ step: 1 }, { step: 2 }, { step: 3 }], 1)]).toEqual([3]);
    expect(
      bestStep([
        { step: 1, validationLoss: Number.NaN },
        { step: 2, validationLoss: 3 },
      ]),
    ).toBe(2);
  });
});
