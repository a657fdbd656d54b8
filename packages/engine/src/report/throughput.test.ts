import { afterAll, describe, expect, it } from 'vitest';
import { releaseAllSessions } from '../onnx/runtime.js';
import { measureMatMulPeak, peakRssMiB, trainingFlopsPerToken } from './throughput.js';

afterAll(() => releaseAllSessions());

describe('throughput helpers', () => {
  it('measures a finite MatMul rate from the time inside onnxruntime', async () => {
    const p = await measureMatMulPeak({ size: 128, chain: 2, runs: 2 });
    expect(p.bestRunMs).toBeGreaterThan(0);
    expect(p.flopsPerSecond).toBeCloseTo((2 * 2 * 128 ** 3) / (p.bestRunMs / 1000), 0);
    // Any machine that runs the tests lies between a MFLOP/s and a PFLOP/s.
    expect(p.flopsPerSecond).toBeGreaterThan(1e6);
    expect(p.flopsPerSecond).toBeLessThan(1e15);
  });

  it('counts 6N for full fine-tuning and 4N plus the adapter for LoRA', () => {
    expect(trainingFlopsPerToken(1000, 1000, true)).toBe(6000);
    expect(trainingFlopsPerToken(1000, 10, false)).toBe(4060);
    expect(peakRssMiB()).toBeGreaterThan(10);
  });
});
