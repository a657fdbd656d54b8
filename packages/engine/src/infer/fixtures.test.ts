// End-to-end inference on the reference fixtures: real graphs from models/, real onnxruntime sessions.

import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readDataRows } from '../data/read-rows.js';
import { generate } from './generate.js';
import { type InferenceModel, openModel } from './model.js';
import { argmax } from './sampling.js';
import { evaluateLoss, nextTokenLogProbs, type ScoringRow, scoreOptions } from './score.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');
const PROMPT = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10, 318, 97, 115, 115, 105, 115, 116, 97, 110, 116, 10];

const opened: InferenceModel[] = [];
async function open(model: string, adapter?: string): Promise<InferenceModel> {
  const m = await openModel(join(fixtures, 'models', model), {
    threads: 1,
    ...(adapter && { adapterDir: join(fixtures, 'adapters', adapter) }),
  });
  opened.push(m);
  return m;
}
afterAll(async () => {
  await Promise.all(opened.map((m) => m.release()));
});

async function chatRows(): Promise<ScoringRow[]> {
  const rows = await readDataRows(join(fixtures, 'data/tiny-chat.jsonl'));
  return rows.map((r) => {
    if (r.format !== 'pretokenized') throw new Error('fixture rows are pre-tokenised');
    return { inputIds: r.input_ids, ...(r.labels && { labels: r.labels }) };
  });
}

const expectedJson = async (name: string) => JSON.parse(await readFile(join(fixtures, 'expected', name), 'utf8'));

describe('evaluateLoss on the fixtures', () => {
  for (const [model, adapter, file] of [
    ['tiny-qwen2', undefined, 'tiny-qwen2.base.loss.json'],
    ['tiny-gpt2', undefined, 'tiny-gpt2.base.loss.json'],
    ['tiny-qwen2', 'tiny-qwen2-lora', 'tiny-qwen2-lora.loss.json'],
  ] as const) {
    it(`${model}${adapter ? ` + ${adapter}` : ''} matches the reference, for batch sizes 1 and 4`, async () => {
      const m = await open(model, adapter);
      const ref = await expectedJson(file);
      const session = await m.session('loss');
      const rows = await chatRows();
      for (const batchSize of [4, 1, 3]) {
        const r = await evaluateLoss(session, rows, { batchSize, padId: 0, vocabSize: m.config.vocabSize });
        expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
        if (ref.n_target_tokens !== undefined) expect(r.tokens).toBe(ref.n_target_tokens);
      }
    });
  }
});

describe('generate on the fixtures', () => {
  for (const [model, adapter] of [
    ['tiny-qwen2', undefined],
    ['tiny-llama', undefined],
    ['tiny-gpt2', undefined],
    ['tiny-qwen2', 'tiny-qwen2-lora'],
    ['tiny-gpt2', 'tiny-gpt2-lora'],
  ] as const) {
    it(`greedy ${model}${adapter ? ` + ${adapter}` : ''} equals transformers' generate`, async () => {
      const m = await open(model, adapter);
      const ref = await expectedJson(`generate/${model}${adapter ? `.${adapter}` : ''}.json`);
      const [g] = await generate(await m.decoder(), [PROMPT], { maxNewTokens: 16, padId: 0 });
      expect(g!.ids).toEqual(ref.ids);
    });
  }

  it('gives each prompt of a left-padded batch what it gets alone, and what a cache-free recomputation gives', async () => {
    const m = await open('tiny-qwen2');
    const prompts = [PROMPT, PROMPT.slice(3, 9), [318, 72, 105]];
    const batched = await generate(await m.decoder(), prompts, { maxNewTokens: 8, padId: 317 });
    const logits = await m.session('logits');
    for (const [i, p] of prompts.entries()) {
      const [alone] = await generate(await m.decoder(), [p], { maxNewTokens: 8, padId: 317 });
      expect(batched[i]!.ids).toEqual(alone!.ids);
      // Without a cache: rerun the whole sequence each step and take the argmax of the last position.
      const seq = [...p];
      for (let s = 0; s < 8; s++) {
        const [dist] = await nextTokenLogProbs(logits, [seq], { padId: 0 });
        seq.push(argmax(dist!));
      }
      expect(seq.slice(p.length)).toEqual(alone!.ids);
    }
  });
});

describe('option scoring on a real model', () => {
  it('sums the next-token log-probabilities along each option', async () => {
    const m = await open('tiny-llama');
    const logits = await m.session('logits');
    const options = [[120, 231], [7], [55, 66, 77]];
    const scores = await scoreOptions(logits, PROMPT, options, { padId: 0 });
    for (const [i, o] of options.entries()) {
      let expected = 0;
      for (let j = 0; j < o.length; j++) {
        const [dist] = await nextTokenLogProbs(logits, [[...PROMPT, ...o.slice(0, j)]], { padId: 0 });
        expected += dist![o[j]!]!;
      }
      expect(scores[i]!.logProb).toBeCloseTo(expected, 4);
    }
  });
});
