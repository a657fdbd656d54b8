// Service overhead: the same LoRA run (model, data, hyperparameters) trained through the trainer service — a job
// on the work queue, a trainer node streaming the data from the dataset service and publishing every step as a
// NATS event that the service's job records and a progress stream (this benchmark, as a dashboard would) follow —
// and directly with the engine's train(), which is what `tunemesh train` runs. All in this process, same thread
// count, the two kinds interleaved (engine, service, engine, service, …) so a change in the machine's load hits
// both. Reports tokens/s of each run (steps after the first two, so graph building and session start are left
// out of both) and the ratio of the best service run to the best engine run; issue 7 asks for at least 0.95.
//
//   node --conditions=tunemesh-source --import tsx bench/trainer-service.ts
//   TUNEMESH_BENCH_STEPS (default 24), TUNEMESH_BENCH_RUNS (runs of each kind, default 2),
//   TUNEMESH_BENCH_TRAINER_MODEL=small|tiny4 (default small, issue 4's model; tiny4 has ≈ 50 ms steps, where the
//   per-step cost of events shows at its worst)

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getMethod, loadModelDir, makeLoraConfig, type TrainRow, train } from '../packages/engine/src/index.js';
import { DatasetSplit, Hyperparameters, JobStatus, LoraConfig } from '../proto/src/index.js';
import { startTestMesh } from '../tests/support/mesh.js';
import { SMALL, TINY4 } from './models.js';
import type { Benchmark } from './types.js';

const STEPS = Number(process.env.TUNEMESH_BENCH_STEPS ?? 24);
const RUNS = Number(process.env.TUNEMESH_BENCH_RUNS ?? 2);
const MODEL = process.env.TUNEMESH_BENCH_TRAINER_MODEL === 'tiny4' ? 'tiny4' : 'small';
const SIZES = MODEL === 'tiny4' ? TINY4 : SMALL;
const SKIP = 2;
const BATCH = 4;
const THREADS = 2;

function rows(n: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  let out = '';
  for (let i = 0; i < n; i++) {
    const text = Array.from({ length: 120 }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ');
    out += `${JSON.stringify({ text })}\n`;
  }
  return out;
}

/** Mean tokens/s over logged steps after the first SKIP, weighting each step by its duration. */
function rate(points: { step: number; tps: number; elapsed: number }[]): number {
  let tokens = 0;
  let seconds = 0;
  let prev = points.find((p) => p.step === SKIP)?.elapsed;
  for (const p of points) {
    if (p.step <= SKIP || prev === undefined) continue;
    const dt = p.elapsed - prev;
    tokens += p.tps * dt;
    seconds += dt;
    prev = p.elapsed;
  }
  return tokens / seconds;
}

export const trainerServiceBench: Benchmark = {
  name: 'trainer-service',
  description: `LoRA r=8 through the trainer service vs the engine directly (${MODEL} model, ${STEPS} steps, batch ${BATCH}, ${RUNS} runs each)`,
  async run(log) {
    const mesh = await startTestMesh({
      name: 'tm-bench-trainer-',
      services: ['dataset', 'trainer'],
      models: { m: { arch: 'qwen2', sizes: SIZES, seed: 1 } },
      data: [],
      prepare: ({ data }) => writeFile(join(data, 'text.jsonl'), rows(BATCH * STEPS)),
      node: { threads: THREADS },
      client: { component: 'bench' },
    });
    const { models } = mesh;
    try {
      const client = mesh.clients.trainer;
      const datasets = mesh.clients.dataset;
      const opts = { name: '', fileFormat: 0, format: 0, maxLength: 0, overlengthPolicy: 0, removeDuplicates: false };
      const tok = { source: { $case: 'modelPath' as const, value: join(models, 'm') } };
      const ds = (
        await datasets.importDatasetFromPath({
          path: 'text.jsonl',
          validationPath: '',
          options: { ...opts, tokenizer: tok, split: { holdout: { $case: 'validationCount', value: 0n } } },
        })
      ).dataset;
      const model = (await client.registerBaseModel({ name: '', path: join(models, 'm') })).baseModel;
      const serviceRun = async (run: number) => {
        const job = (
          await client.createFineTuneJob({
            idempotencyKey: `bench-${run}`,
            baseModelId: model?.id as string,
            datasetId: ds?.id as string,
            method: {
              config: {
                $case: 'lora',
                value: LoraConfig.fromPartial({ r: 8, loraAlpha: 16, targetModules: ['q_proj', 'v_proj'] }),
              },
            },
            hyperparameters: Hyperparameters.fromPartial({
              duration: { $case: 'maxSteps', value: BigInt(STEPS) },
              learningRate: 2e-4,
              batchSize: BATCH,
              gradientAccumulationSteps: 1,
              maxSeqLength: 256,
              saveEverySteps: 1_000n,
            }),
            evaluationMetrics: [],
            name: '',
            labels: {},
          })
        ).job;
        const service: { step: number; tps: number; elapsed: number }[] = [];
        for await (const r of client.streamJobProgress(
          { jobId: job?.id as string, sinceSequence: 0n, historyOnly: false },
          { deadline: new Date(Date.now() + 30 * 60_000) },
        )) {
          const e = r.event?.event;
          if (e?.$case === 'progress')
            service.push({
              step: Number(e.value.step),
              tps: e.value.tokensPerSecond,
              elapsed: e.value.elapsedSeconds,
            });
          if (e?.$case === 'failed') throw new Error(`job failed: ${e.value.failure?.message}`);
        }
        // The job record follows the events a moment later (the service's projection).
        let final = (await client.getFineTuneJob({ id: job?.id as string })).job;
        for (let i = 0; i < 100 && final?.status === JobStatus.RUNNING; i++) {
          await new Promise((r) => setTimeout(r, 50));
          final = (await client.getFineTuneJob({ id: job?.id as string })).job;
        }
        if (final?.status !== JobStatus.SUCCEEDED) throw new Error(`job ended ${JobStatus[final?.status ?? 0]}`);
        return rate(service);
      };
      const trainRows: TrainRow[] = [];
      for await (const r of datasets.streamExamples(
        {
          datasetId: ds?.id as string,
          split: DatasetSplit.TRAIN,
          tokenizer: tok,
          maxLength: 256,
          shuffle: false,
          epoch: 0,
          startPosition: 0n,
          limit: 0n,
          includeText: false,
        },
        { deadline: new Date(Date.now() + 600_000) },
      ))
        if (r.example !== undefined) trainRows.push({ input_ids: r.example.inputIds, labels: r.example.labels });
      const base = await loadModelDir(join(models, 'm'));
      const applied = getMethod('lora').apply(
        { config: base.config, weights: base.weights },
        makeLoraConfig({ r: 8, loraAlpha: 16, targetModules: ['q_proj', 'v_proj'] }),
        { seed: 42 },
      );
      const directRun = async () => {
        const direct: { step: number; tps: number; elapsed: number }[] = [];
        await train({
          model: { config: base.config, weights: base.weights },
          method: applied,
          train: trainRows,
          hyperparameters: { maxSteps: STEPS, lr: 2e-4, batchSize: BATCH, maxGradNorm: 1, seed: 42 },
          padId: base.config.padTokenId ?? 0,
          threads: THREADS,
          callbacks: { onLog: (e) => direct.push({ step: e.step, tps: e.tokensPerSecond, elapsed: e.elapsedS }) },
        });
        return rate(direct);
      };
      // Interleaved, the engine first: its first run also warms what the service's first run would (the
      // process's JIT, onnxruntime's library), so neither kind gets the cold start alone.
      const engine: number[] = [];
      const service: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        log(`engine directly, run ${run + 1}/${RUNS}…`);
        engine.push(await directRun());
        log(`service, run ${run + 1}/${RUNS}…`);
        service.push(await serviceRun(run));
      }
      const best = (xs: number[]) => Math.max(...xs);
      return {
        model: MODEL,
        steps: STEPS,
        batch: BATCH,
        engine_tokens_per_s: engine.map(Math.round),
        service_tokens_per_s: service.map(Math.round),
        ratio: Number((best(service) / best(engine)).toFixed(3)),
        pair_ratios: service.map((v, i) => Number((v / (engine[i] as number)).toFixed(3))),
      };
    } finally {
      await mesh.close();
    }
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await trainerServiceBench.run((l) => process.stderr.write(`${l}\n`));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
