// Evaluation and generation with the methods' saved adapters, through openModel (what `tunemesh eval/generate`
// and the evaluator use): the PEFT IA3 fixture's loss equals PEFT's, and for IA3, DoRA and bottleneck adapters
// KV-cached greedy generation equals a cache-free recomputation of the whole sequence at each step.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDataRows } from '../data/read-rows.js';
import { generate } from '../infer/generate.js';
import { type InferenceModel, openModel } from '../infer/model.js';
import { argmax } from '../infer/sampling.js';
import { evaluateLoss, nextTokenLogProbs } from '../infer/score.js';
import { makeBottleneckConfig } from './adapter/config.js';
import { applyBottleneck } from './adapter/inject.js';
import { makeLoraConfig } from './lora/config.js';
import { applyLora } from './lora/inject.js';
import { adapterPath, FIXTURES, loadBase, modelPath, readJson, withTempDir } from './testing.js';
import type { AppliedMethod } from './types.js';

const PROMPT = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10, 318, 97, 115, 115, 105, 115, 116, 97, 110, 116, 10];
const opened: InferenceModel[] = [];
afterAll(async () => {
  await Promise.all(opened.map((m) => m.release()));
});

async function open(model: string, adapterDir: string): Promise<InferenceModel> {
  const m = await openModel(modelPath(model), { threads: 1, adapterDir });
  opened.push(m);
  return m;
}

async function cachedEqualsCacheFree(m: InferenceModel): Promise<void> {
  const [g] = await generate(await m.decoder(), [PROMPT], { maxNewTokens: 8, padId: 0 });
  const logits = await m.session('logits');
  const seq = [...PROMPT];
  for (let s = 0; s < 8; s++) {
    const [dist] = await nextTokenLogProbs(logits, [seq], { padId: 0 });
    if (dist === undefined) throw new Error('no distribution');
    seq.push(argmax(dist));
  }
  expect(seq.slice(PROMPT.length)).toEqual(g?.ids);
}

/** Moves every trained tensor away from its initial value, so the adapter changes the outputs. */
function perturb(a: AppliedMethod): void {
  let s = 7;
  for (const t of a.params.values()) {
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      d[i] = (d[i] as number) * (1 + 0.3 * (s / 2 ** 32 - 0.5)) + 0.05 * (s / 2 ** 32 - 0.5);
    }
  }
}

describe('evaluation and generation with saved adapters', () => {
  it('the PEFT IA3 fixture: loss equals PEFT’s; cached generation equals cache-free', async () => {
    const m = await open('tiny-qwen2', adapterPath('tiny-qwen2-ia3'));
    const rows = (await readDataRows(join(FIXTURES, 'data/tiny-chat.jsonl'))).map((r) => {
      if (r.format !== 'pretokenized') throw new Error('fixture rows are pre-tokenised');
      return { inputIds: r.input_ids, ...(r.labels && { labels: r.labels }) };
    });
    const ref = await readJson<{ loss: number }>(join(FIXTURES, 'expected', 'tiny-qwen2-ia3.loss.json'));
    const r = await evaluateLoss(await m.session('loss'), rows, { batchSize: 4, padId: 0 });
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    await cachedEqualsCacheFree(m);
  });

  it.each([
    ['DoRA', 'tiny-gpt2'],
    ['bottleneck adapter', 'tiny-qwen2'],
  ])('%s on %s: cached generation equals cache-free', async (kind, model) => {
    const base = await loadBase(model);
    const applied =
      kind === 'DoRA'
        ? applyLora(base, makeLoraConfig({ r: 4, targetModules: ['c_attn', 'c_fc'], useDora: true }), { seed: 1 })
        : applyBottleneck(base, makeBottleneckConfig({ placement: 'houlsby', reductionFactor: 8 }), { seed: 1 });
    perturb(applied);
    await withTempDir(async (dir) => {
      await applied.save(dir, applied.params);
      await cachedEqualsCacheFree(await open(model, dir));
    });
  });
});
