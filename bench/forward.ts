// Forward-pass throughput on the `small` model: Qwen2-style, hidden 512, 8 layers, 8 heads, 4 KV heads,
// intermediate 1408, vocab 4096, float32, random weights from makeTinyModel. Measures eval (loss graph,
// batch 4 × 256), KV-cached generation (32-token prompt, 128 new tokens, batch 1 and 4), the time to build each
// graph and create its session, and the process's peak RSS (worker threads included).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRng,
  evaluateLoss,
  generate,
  makeTinyModel,
  openModel,
  type ScoringRow,
} from '../packages/engine/src/index.js';
import { SMALL } from './models.js';
import type { Benchmark } from './types.js';

const EVAL_BATCH = 4;
const EVAL_SEQ = 256;
const EVAL_RUNS = 5;
const PROMPT_LEN = 32;
const NEW_TOKENS = 128;
const GEN_RUNS = 2;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function randomIds(rng: ReturnType<typeof createRng>, n: number, vocab: number): number[] {
  // Stay below the special tokens at the top of the vocabulary.
  return Array.from({ length: n }, () => rng.nextUint32() % (vocab - 3));
}

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

export const forward: Benchmark = {
  name: 'forward',
  description: 'eval and generation tokens/s on the small Qwen2-style model (float32, CPU)',
  async run(log) {
    const threads = process.env.TUNEMESH_THREADS ? Number(process.env.TUNEMESH_THREADS) : undefined;
    const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-small-'));
    try {
      let t = performance.now();
      const info = await makeTinyModel({ arch: 'qwen2', out: dir, sizes: SMALL, seed: 0 });
      const makeMs = performance.now() - t;
      log(`model: ${(info.parameters / 1e6).toFixed(1)} M parameters, written in ${makeMs.toFixed(0)} ms`);

      t = performance.now();
      const model = await openModel(dir, threads === undefined ? {} : { threads });
      const loadMs = performance.now() - t;
      log(`load weights: ${loadMs.toFixed(0)} ms`);

      // Eval: loss over 4 × 256 tokens, every token scored.
      const rng = createRng(1);
      const rows: ScoringRow[] = Array.from({ length: EVAL_BATCH }, () => ({
        inputIds: randomIds(rng, EVAL_SEQ, SMALL.vocab),
      }));
      const lossSession = await model.session('loss');
      const lossT = model.timings.loss!;
      log(`eval graph: build ${lossT.buildMs.toFixed(0)} ms, session ${lossT.sessionMs.toFixed(0)} ms`);
      const evalOpts = { batchSize: EVAL_BATCH, padId: 0, vocabSize: SMALL.vocab };
      t = performance.now();
      const first = await evaluateLoss(lossSession, rows, evalOpts);
      const firstRunMs = performance.now() - t;
      const evalMs: number[] = [];
      for (let i = 0; i < EVAL_RUNS; i++) {
        t = performance.now();
        await evaluateLoss(lossSession, rows, evalOpts);
        evalMs.push(performance.now() - t);
      }
      const evalMedian = median(evalMs);
      const evalTokS = (EVAL_BATCH * EVAL_SEQ) / (evalMedian / 1000);
      log(
        `eval ${EVAL_BATCH}×${EVAL_SEQ}: first run ${firstRunMs.toFixed(0)} ms, median of ${EVAL_RUNS} ${evalMedian.toFixed(0)} ms ` +
          `(min ${Math.min(...evalMs).toFixed(0)}) → ${evalTokS.toFixed(0)} tokens/s (loss ${first.loss.toFixed(4)})`,
      );

      // Generation: greedy, no stop token, so every run makes exactly NEW_TOKENS per sequence.
      const decoder = await model.decoder();
      const decT = model.timings.decode!;
      log(`decode graph: build ${decT.buildMs.toFixed(0)} ms, session ${decT.sessionMs.toFixed(0)} ms`);
      const generation: Record<string, unknown> = {};
      for (const batch of [1, 4]) {
        const prompts = Array.from({ length: batch }, () => randomIds(rng, PROMPT_LEN, SMALL.vocab));
        await generate(decoder, prompts, { maxNewTokens: 4, padId: 0 }); // warm up this batch shape
        const runs: { totalMs: number; prefillMs: number; decodeMs: number; steps: number }[] = [];
        for (let i = 0; i < GEN_RUNS; i++) {
          const stats: { last?: { prefillMs: number; decodeMs: number; steps: number } } = {};
          t = performance.now();
          const out = await generate(decoder, prompts, { maxNewTokens: NEW_TOKENS, padId: 0 }, stats);
          const totalMs = performance.now() - t;
          if (out.some((g) => g.ids.length !== NEW_TOKENS)) throw new Error('generation stopped early');
          runs.push({ totalMs, ...stats.last! });
        }
        const best = runs.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
        const newTokS = (batch * NEW_TOKENS) / (best.totalMs / 1000);
        const stepMs = best.decodeMs / (best.steps - 1);
        const decodeTokS = (batch * (best.steps - 1)) / (best.decodeMs / 1000);
        generation[`batch${batch}`] = {
          ...best,
          newTokensPerS: newTokS,
          decodeTokensPerS: decodeTokS,
          msPerStep: stepMs,
        };
        log(
          `generate batch ${batch}, ${PROMPT_LEN}-token prompt, ${NEW_TOKENS} new: ${best.totalMs.toFixed(0)} ms ` +
            `(prefill ${best.prefillMs.toFixed(1)} ms, ${stepMs.toFixed(2)} ms/step) → ${newTokS.toFixed(0)} new tokens/s, ` +
            `decode ${decodeTokS.toFixed(0)} tokens/s`,
        );
      }
      const rss = peakRssMiB();
      log(`peak RSS: ${rss.toFixed(0)} MiB`);
      await model.release();
      return {
        parameters: info.parameters,
        threads: threads ?? 'default',
        makeModelMs: makeMs,
        loadWeightsMs: loadMs,
        evalGraph: lossT,
        decodeGraph: decT,
        eval: {
          batch: EVAL_BATCH,
          seq: EVAL_SEQ,
          firstRunMs,
          medianMs: evalMedian,
          runsMs: evalMs,
          tokensPerS: evalTokS,
        },
        generation,
        peakRssMiB: rss,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
