// Classification accuracy through the evaluator's own compute path (services/evaluator computeMetrics: each
// label word's log-likelihood after the prompt, the prompt run once, no generation) over 1,000 IMDB-style
// examples on the `small` model (the forward benchmark's: Qwen2-style, 25.7 M parameters, random weights).
// The target: under a minute on this machine. The examples are template-rendered reviews tokenised
// with the model's tokenizer, completion masked as the dataset service does (prompt -100, label word scored).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, IGNORE_INDEX, loadTokenizer, makeTinyModel, openModel } from '../packages/engine/src/index.js';
import { Metric } from '../proto/src/index.js';
import { computeMetrics } from '../services/evaluator/src/compute.js';
import type { EvalExample } from '../services/evaluator/src/examples.js';
import { SMALL } from './models.js';
import type { Benchmark } from './types.js';

const EXAMPLES = 1_000;
const BATCH = 8; // the evaluator's default batch_size
const LABEL_WORDS = { '0': ' negative', '1': ' positive' };
const WORDS = [
  'the',
  'film',
  'was',
  'plot',
  'acting',
  'great',
  'dull',
  'story',
  'ending',
  'music',
  'scenes',
  'characters',
  'loved',
  'boring',
  'brilliant',
  'slow',
  'funny',
  'sad',
  'director',
  'camera',
  'script',
  'and',
  'but',
  'very',
];

export const evaluatorBench: Benchmark = {
  name: 'evaluator',
  description: 'classification accuracy over 1,000 examples through the evaluator compute path (small model, CPU)',
  async run(log) {
    const threads = process.env.TUNEMESH_THREADS ? Number(process.env.TUNEMESH_THREADS) : undefined;
    const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-eval-'));
    try {
      await makeTinyModel({ arch: 'qwen2', out: dir, sizes: SMALL, seed: 0 });
      const tokenizer = await loadTokenizer(dir);
      const rng = createRng(1);
      const examples: EvalExample[] = [];
      let promptTokens = 0;
      for (let i = 0; i < EXAMPLES; i++) {
        // 20-80 words a review: IMDB reviews are longer, so this is the lighter end (see bench/README.md).
        const n = 20 + (rng.nextUint32() % 61);
        const text = Array.from({ length: n }, () => WORDS[rng.nextUint32() % WORDS.length]).join(' ');
        const label = String(rng.nextUint32() % 2) as '0' | '1';
        const prompt = tokenizer.encode(`Review: ${text}\nSentiment:`, { addSpecialTokens: false });
        const word = tokenizer.encode(LABEL_WORDS[label], { addSpecialTokens: false });
        promptTokens += prompt.length;
        examples.push({
          position: i,
          inputIds: [...prompt, ...word],
          labels: [...prompt.map(() => IGNORE_INDEX), ...word],
          promptText: text,
          referenceText: LABEL_WORDS[label],
        });
      }
      const model = await openModel(dir, threads === undefined ? {} : { threads });
      try {
        const t0 = performance.now();
        const out = await computeMetrics({
          model,
          tokenizer,
          examples,
          metrics: [Metric.ACCURACY, Metric.MACRO_F1],
          labelWords: LABEL_WORDS,
          generation: { decoding: 0, maxNewTokens: 0, topK: 0, stop: [] },
          batchSize: BATCH,
          numSamples: 0,
          signal: new AbortController().signal,
          onProgress: () => undefined,
        });
        const seconds = (performance.now() - t0) / 1000;
        const accuracy = out.results.find((r) => r.metric === Metric.ACCURACY)?.value;
        log(
          `${EXAMPLES} examples (mean prompt ${(promptTokens / EXAMPLES).toFixed(1)} tokens, 2 label words each), batch ${BATCH}: ${seconds.toFixed(1)} s (session creation included), accuracy ${accuracy?.toFixed(3)} (random weights: ≈ 0.5)`,
        );
        return {
          examples: EXAMPLES,
          meanPromptTokens: promptTokens / EXAMPLES,
          batchSize: BATCH,
          seconds,
          examplesPerSecond: EXAMPLES / seconds,
          accuracy,
          peakRssMiB: process.resourceUsage().maxRSS / 1024,
        };
      } finally {
        await model.release();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
