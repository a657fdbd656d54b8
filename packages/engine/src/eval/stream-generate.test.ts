// Streaming generation yields exactly generate()'s tokens (greedy and seeded sampling) on a fixture model.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generate } from '../infer/generate.js';
import { openModel } from '../infer/model.js';
import { streamGenerate } from './stream-generate.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');

describe('streamGenerate', () => {
  it('matches generate() token for token', async () => {
    const m = await openModel(join(fixtures, 'models/tiny-qwen2'), { threads: 1 });
    try {
      const decoder = await m.decoder();
      const prompt = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10];
      for (const opts of [
        { maxNewTokens: 12, padId: 0, greedy: true },
        { maxNewTokens: 12, padId: 0, greedy: false, temperature: 0.9, topK: 30, seed: 5 },
      ]) {
        const [ref] = await generate(decoder, [prompt], opts);
        const got: number[] = [];
        for await (const t of streamGenerate(decoder, prompt, opts)) got.push(t);
        expect(got).toEqual(ref?.ids);
      }
    } finally {
      await m.release();
    }
  });
});
