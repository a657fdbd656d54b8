import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import { releaseAllSessions } from '../onnx/runtime.js';
import { matmulParamCount, measureMatMulPeak, peakRssMiB, trainingFlopsPerToken } from './throughput.js';

const FIXTURES = new URL('../../../../../shared/fixtures/models/', import.meta.url).pathname;

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

  it('counts matrix weights: everything 2-D but the embedding, plus a tied LM head', async () => {
    for (const name of ['tiny-qwen2', 'tiny-gpt2']) {
      const m = await loadModelDir(`${FIXTURES}${name}`);
      const c = m.config;
      let all2d = 0;
      for (const t of m.weights.values())
        if (t.dims.length === 2) all2d += (t.dims[0] as number) * (t.dims[1] as number);
      const embed = c.vocabSize * c.hiddenSize;
      const positions = m.weights.get('transformer.wpe.weight')?.data.length ?? 0;
      const expected = all2d - embed - positions + (c.tieWordEmbeddings ? embed : 0);
      expect(matmulParamCount(c, m.weights)).toBe(expected);
      expect(expected).toBeGreaterThan(c.numLayers * 4 * c.hiddenSize * c.hiddenSize * 0.5);
    }
  });
});
