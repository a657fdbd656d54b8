// The schedules against values worked out by hand from transformers' formulas.

import { describe, expect, it } from 'vitest';
import { TrainError } from './errors.js';
import { createSchedule, warmupStepsOf } from './schedule.js';

describe('learning-rate schedules', () => {
  it('linear with 2 warmup steps over 10', () => {
    const s = createSchedule({ name: 'linear', totalSteps: 10, warmupSteps: 2 });
    // warmup s/2; then (10 − s)/8
    expect([0, 1, 2, 5, 9, 10].map((k) => s.factor(k))).toEqual([0, 0.5, 1, 0.625, 0.125, 0]);
  });

  it('linear without warmup starts at the full rate', () => {
    const s = createSchedule({ name: 'linear', totalSteps: 4 });
    expect([0, 1, 2, 3].map((k) => s.factor(k))).toEqual([1, 0.75, 0.5, 0.25]);
  });

  it('cosine (half a cycle) with 2 warmup steps over 10', () => {
    const s = createSchedule({ name: 'cosine', totalSteps: 10, warmupSteps: 2 });
    expect(s.factor(1)).toBe(0.5);
    expect(s.factor(2)).toBe(1);
    // progress 0.25: 0.5·(1 + cos(π/4)) = 0.8535533905932737
    expect(s.factor(4)).toBeCloseTo(0.8535533905932737, 14);
    expect(s.factor(6)).toBeCloseTo(0.5, 14);
    // progress 0.75: 0.5·(1 + cos(3π/4)) = 0.14644660940672627
    expect(s.factor(8)).toBeCloseTo(0.14644660940672627, 14);
    expect(s.factor(10)).toBeCloseTo(0, 14);
  });

  it('constant with warmup', () => {
    const s = createSchedule({ name: 'constant', totalSteps: 100, warmupSteps: 4 });
    expect([0, 1, 3, 4, 99].map((k) => s.factor(k))).toEqual([0, 0.25, 0.75, 1, 1]);
  });

  it('warmup as a ratio is ceil(total · ratio); warmup steps take precedence', () => {
    expect(warmupStepsOf(25, 0, 0.1)).toBe(3);
    expect(warmupStepsOf(25, 5, 0.1)).toBe(5);
    const s = createSchedule({ name: 'linear', totalSteps: 25, warmupRatio: 0.1 });
    expect(s.warmupSteps).toBe(3);
    expect(s.factor(1)).toBeCloseTo(1 / 3, 15);
    expect(s.factor(14)).toBe(0.5); // (25 − 14)/22
  });

  it('rejects bad settings', () => {
    expect(() => createSchedule({ name: 'linear', totalSteps: 0 })).toThrow(TrainError);
    expect(() => createSchedule({ name: 'linear', totalSteps: 5, warmupRatio: 1.5 })).toThrow(/warmupRatio/);
    expect(() => createSchedule({ name: 'step' as 'linear', totalSteps: 5 })).toThrow(/unknown scheduler/);
  });
});
