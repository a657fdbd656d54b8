// scoreContinuations (prompt once, continuations on its KV cache) equals scoreRows over every prompt +
// continuation row run from scratch, on the fixture models (RoPE and learned positions), with prompts of
// different lengths in one left-padded batch and continuations of one and several tokens.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX } from '../data/rows.js';
import { openModel } from '../infer/model.js';
import { scoreContinuations } from './continuation-scores.js';
import { scoreRows } from './row-scores.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');

describe('scoreContinuations', () => {
  for (const name of ['tiny-qwen2', 'tiny-gpt2']) {
    it(`equals scoring each prompt + continuation from scratch (${name})`, async () => {
      const m = await openModel(join(fixtures, 'models', name), { threads: 1 });
      try {
        const prompts = [
          [318, 85, 115, 101, 114, 58, 32, 104, 105, 10],
          [72, 101, 108],
          [40, 41, 42, 43, 44, 45, 46],
        ];
        const continuations = [[110, 101, 103], [112], [111, 107, 33, 10]];
        const shared = await scoreContinuations(await m.decoder(), prompts, continuations, {
          padId: 0,
          batchSize: 2,
        });
        const rows = prompts.flatMap((p) =>
          continuations.map((c) => ({ inputIds: [...p, ...c], labels: [...p.map(() => IGNORE_INDEX), ...c] })),
        );
        const ref = await scoreRows(await m.session('logits'), rows, { padId: 0 });
        expect(shared).toHaveLength(prompts.length);
        prompts.forEach((_, p) => {
          continuations.forEach((c, j) => {
            const r = ref[p * continuations.length + j];
            expect(r?.tokens).toBe(c.length);
            expect(Math.abs((shared[p]?.[j] as number) - (r?.logProb as number))).toBeLessThan(1e-4);
          });
        });
      } finally {
        await m.release();
      }
    });
  }

  it('refuses a decoder that starts from a virtual-token cache (prompt learning) instead of ignoring it', async () => {
    const m = await openModel(join(fixtures, 'models', 'tiny-qwen2'), { threads: 1 });
    try {
      const decoder = { ...(await m.decoder()), prefix: { length: 2, keys: [], values: [] } };
      await expect(scoreContinuations(decoder, [[1, 2]], [[3]], { padId: 0 })).rejects.toThrow(/virtual-token prefix/);
    } finally {
      await m.release();
    }
  });
});
