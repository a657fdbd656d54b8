// The evaluator service over gRPC with a real nats-server and a real dataset service: evaluations as jobs
// (baseline and adapter), metric values checked against the engine computing them independently from the raw
// rows, the leaderboard with deltas, cancellation, bad input, and the eval.* events.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClassificationRow,
  classificationReport,
  classifyByLabelWords,
  evaluateLoss,
  generate,
  getMethod,
  loadModelDir,
  loadTokenizer,
  openModel,
  prepareTrainingRows,
  readDataRows,
  scoreGenerations,
} from '../packages/engine/src/index.js';
import {
  ClientError,
  type MeshServiceHandle,
  publishEvent,
  type ServiceClient,
  Status,
} from '../packages/kit/src/index.js';
import {
  ArtifactKind,
  ChatRole,
  CombinationType,
  type DatasetServiceDefinition,
  DatasetSplit,
  DatasetStatus,
  Decoding,
  Dtype,
  type Evaluation,
  EvaluationCompleted,
  EvaluationStatus,
  EvaluationTrigger,
  type EvaluatorServiceDefinition,
  ExportFormat,
  FinishReason,
  type ImportOptions,
  JobCompleted,
  jobSubject,
  MethodKind,
  Metric,
  type ModelRef,
} from '../proto/src/index.js';
import { repoRoot as root, startTestMesh, type TestMesh } from './support/mesh.js';

const fixtures = resolve(root, '../shared/fixtures');
const models = join(fixtures, 'models');
const sentimentFile = join(root, 'packages/engine/src/data/testdata/sentiment.jsonl');
const TEMPLATE = 'Review: {text}\nSentiment:';
const LABEL_WORDS = { '0': ' negative', '1': ' positive' };

let mesh: TestMesh<'dataset' | 'evaluator'>;
let evaluator: MeshServiceHandle;
let datasets: ServiceClient<typeof DatasetServiceDefinition>;
let client: ServiceClient<typeof EvaluatorServiceDefinition>;
const events: { subject: string; data: Uint8Array }[] = [];
let tmp: string;
let sentimentId = '';
let alpacaId = '';

function options(over: Partial<ImportOptions> = {}): ImportOptions {
  return { name: '', fileFormat: 0, format: 0, maxLength: 0, overlengthPolicy: 0, removeDuplicates: false, ...over };
}
const template = (over: Record<string, unknown> = {}) => ({
  promptTemplate: '',
  labelWords: {},
  chatTemplate: '',
  defaultSystemPrompt: '',
  trainOnPrompt: false,
  ...over,
});

beforeAll(async () => {
  mesh = await startTestMesh({
    name: 'tm-evaluator-',
    services: ['dataset', 'evaluator'],
    // The shared fixtures' models and adapters, not tiny ones made here.
    models: {},
    data: ['packages/engine/src/data/testdata/sentiment.jsonl'],
    prepare: async ({ tmp, data }) => {
      await writeFile(
        join(data, 'qa.jsonl'),
        [
          { instruction: 'Name a colour.', output: 'Blue' },
          { instruction: 'Say hello.', output: 'hello there' },
          { instruction: 'Count to three.', output: 'one two three' },
          { instruction: 'Name a fruit.', output: 'An apple' },
        ]
          .map((r) => JSON.stringify(r))
          .join('\n'),
      );
      // The trainer's final adapter of "job-1", as the adapter root lays it out.
      await cp(join(fixtures, 'adapters/tiny-gpt2-lora'), join(tmp, 'adapters/job-1'), { recursive: true });
      await cp(join(fixtures, 'adapters/tiny-qwen2-prompt'), join(tmp, 'adapters/job-prompt'), { recursive: true });
      await cp(join(fixtures, 'adapters/tiny-gpt2-lora'), join(tmp, 'adapters/job-1b'), { recursive: true });
      await cp(join(fixtures, 'adapters/tiny-qwen2-lora'), join(tmp, 'adapters/job-q'), { recursive: true });
      await cp(join(fixtures, 'adapters/tiny-qwen2-ia3'), join(tmp, 'adapters/job-ia3'), { recursive: true });
      // The trainer's artefact layout: <root>/jobs/<job id>/adapter.
      await cp(join(fixtures, 'adapters/tiny-gpt2-lora'), join(tmp, 'adapters/jobs/job-t/adapter'), {
        recursive: true,
      });
      // And one of its checkpoints (<root>/jobs/<job id>/checkpoints/checkpoint-<step>), with other weights than the
      // final adapter so evaluating it cannot be mistaken for evaluating the job.
      const ckDir = join(tmp, 'adapters/jobs/job-t/checkpoints/checkpoint-3');
      await cp(join(fixtures, 'adapters/tiny-gpt2-lora'), ckDir, { recursive: true });
      await scaleSafetensors(join(ckDir, 'adapter_model.safetensors'), 3);
    },
    env: ({ tmp }) => ({
      dataset: { DATASET_MODEL_ROOTS: models },
      evaluator: { EVALUATOR_MODEL_ROOTS: models, EVALUATOR_ADAPTER_ROOT: join(tmp, 'adapters') },
    }),
    client: { component: 'test', retryMaxAttempts: 1 },
  });
  ({ tmp, evaluator } = mesh);
  const sub = evaluator.nats.nc.subscribe('eval.>');
  (async () => {
    for await (const m of sub) events.push({ subject: m.subject, data: m.data });
  })();
  datasets = mesh.clients.dataset;
  client = mesh.clients.evaluator;

  const s = await datasets.importDatasetFromPath({
    path: 'sentiment.jsonl',
    options: options({ template: template({ promptTemplate: TEMPLATE, labelWords: LABEL_WORDS }) }),
    validationPath: '',
  });
  expect(s.dataset?.status).toBe(DatasetStatus.READY);
  sentimentId = s.dataset?.id ?? '';
  const q = await datasets.importDatasetFromPath({
    path: 'qa.jsonl',
    options: options({ template: template() }),
    validationPath: '',
  });
  expect(q.dataset?.status).toBe(DatasetStatus.READY);
  alpacaId = q.dataset?.id ?? '';
}, 30_000);

afterAll(async () => {
  await mesh?.close();
});

// The slice of onnxruntime-node's API the export test uses (the package is the engine's dependency, not the root's).
interface OrtTensor {
  readonly data: unknown;
}
interface Ort {
  InferenceSession: {
    create(path: string): Promise<{
      run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
      release(): Promise<void>;
    }>;
  };
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: number[]) => OrtTensor;
}

const base: ModelRef = { target: { $case: 'baseModelId', value: 'tiny-gpt2' } };
const adapter: ModelRef = { target: { $case: 'jobId', value: 'job-1' } };

async function until(id: string): Promise<Evaluation> {
  for (let i = 0; i < 600; i++) {
    const e = (await client.getEvaluation({ id })).evaluation;
    if (e && [EvaluationStatus.SUCCEEDED, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED].includes(e.status))
      return e;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`evaluation ${id} did not finish`);
}

async function grpcCode(p: Promise<unknown>): Promise<{ code: Status; details: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ClientError) return { code: err.code, details: err.details };
    throw err;
  }
  throw new Error('call succeeded');
}

const evaluate = (model: ModelRef, datasetId: string, metrics: Metric[], over: Record<string, unknown> = {}) =>
  client.evaluateAdapter({
    model,
    datasetId,
    split: DatasetSplit.ALL,
    metrics,
    maxExamples: 0n,
    numSamples: 0,
    batchSize: 0,
    idempotencyKey: '',
    ...over,
  });

/** The engine's own answer from the raw file: tokenizeRow-based label-word scoring and the loss graph. */
/** Multiplies every float32 value of a safetensors file by `k` (a LoRA adapter scaled: another set of weights). */
async function scaleSafetensors(file: string, k: number): Promise<void> {
  const buf = await readFile(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype?: string; data_offsets?: [number, number] }
  >;
  for (const t of Object.values(header)) {
    if (t.dtype !== 'F32' || t.data_offsets === undefined) continue;
    for (let o = t.data_offsets[0]; o < t.data_offsets[1]; o += 4) {
      const at = 8 + n + o;
      buf.writeFloatLE(buf.readFloatLE(at) * k, at);
    }
  }
  await writeFile(file, buf);
}

async function engineReference(adapterDir?: string) {
  const dir = join(models, 'tiny-gpt2');
  const rows = (await readDataRows(sentimentFile)) as ClassificationRow[];
  const tokenizer = await loadTokenizer(dir);
  const m = await openModel(dir, { threads: 1, ...(adapterDir && { adapterDir }) });
  try {
    const classification = { template: TEMPLATE, labelWords: LABEL_WORDS };
    const preds = await classifyByLabelWords(await m.session('logits'), rows, { tokenizer, padId: 0, classification });
    const report = classificationReport(
      preds.map((p) => p.predicted),
      preds.map((p) => p.label),
      ['0', '1'],
    );
    const prepared = prepareTrainingRows(rows, tokenizer, { classification });
    const loss = await evaluateLoss(
      await m.session('loss'),
      prepared.rows.map((r) => ({ inputIds: r.input_ids, labels: r.labels })),
      { padId: 0 },
    );
    return { report, loss: loss.loss, preds };
  } finally {
    await m.release();
  }
}

describe('evaluator service', () => {
  let baselineId = '';
  let adapterId = '';

  it('evaluates the base model as a job: QUEUED, then SUCCEEDED with the engine values and an event', async () => {
    const res = await evaluate(base, sentimentId, [Metric.ACCURACY, Metric.MACRO_F1, Metric.LOSS, Metric.PERPLEXITY], {
      numSamples: 3,
    });
    expect(res.evaluation?.status).toBe(EvaluationStatus.QUEUED);
    expect(res.evaluation?.isBaseline).toBe(true);
    baselineId = res.evaluation?.id ?? '';
    const e = await until(baselineId);
    expect(e.error).toBeUndefined();
    expect(e.status).toBe(EvaluationStatus.SUCCEEDED);
    expect(e.progress).toMatchObject({ examplesDone: 40n, examplesTotal: 40n, fraction: 1 });
    const ref = await engineReference();
    const value = (m: Metric) => e.results.find((r) => r.metric === m)?.value;
    expect(value(Metric.ACCURACY)).toBe(ref.report.accuracy);
    expect(value(Metric.MACRO_F1)).toBeCloseTo(ref.report.macroF1, 12);
    expect(value(Metric.LOSS)).toBeCloseTo(ref.loss, 5);
    expect(value(Metric.PERPLEXITY)).toBeCloseTo(Math.exp(ref.loss), 4);
    expect(e.results.map((r) => r.higherIsBetter)).toEqual([true, true, false, false]);
    expect(e.confusionMatrix?.labels).toEqual(['0', '1']);
    expect(e.confusionMatrix?.counts).toEqual(ref.report.confusion.map(BigInt));
    expect(e.labelScores.map((l) => l.support)).toEqual([20n, 20n]);
    expect(e.samples).toHaveLength(3);
    expect(e.samples[0]?.prompt).toContain('Review: A dull story');
    expect(e.samples[0]?.labelLogLikelihoods['0']).toBeCloseTo(ref.preds[0]?.logLikelihoods['0'] ?? 0, 4);
    expect(e.samples[0]?.loss).toBeGreaterThan(0);

    await new Promise((r) => setTimeout(r, 200));
    const done = events.find((x) => x.subject === `eval.${baselineId}.completed`);
    expect(done).toBeDefined();
    const ev = EvaluationCompleted.decode(done?.data ?? new Uint8Array());
    expect(ev.isBaseline).toBe(true);
    expect(ev.datasetId).toBe(sentimentId);
    expect(ev.metrics.find((m) => m.metric === Metric.ACCURACY)?.value).toBe(ref.report.accuracy);
  }, 40_000);

  it('evaluates a job adapter and ranks it against the baseline with deltas', async () => {
    const res = await evaluate(adapter, sentimentId, [Metric.LOSS, Metric.ACCURACY], { idempotencyKey: 'k-1' });
    adapterId = res.evaluation?.id ?? '';
    expect(res.evaluation?.jobId).toBe('job-1');
    expect(res.evaluation?.baseModelId).toBe('tiny-gpt2');
    const again = await evaluate(adapter, sentimentId, [Metric.LOSS], { idempotencyKey: 'k-1' });
    expect(again.alreadyExisted).toBe(true);
    expect(again.evaluation?.id).toBe(adapterId);
    const e = await until(adapterId);
    expect(e.status).toBe(EvaluationStatus.SUCCEEDED);
    const ref = await engineReference(join(tmp, 'adapters/job-1'));
    const loss = e.results.find((r) => r.metric === Metric.LOSS)?.value ?? Number.NaN;
    expect(loss).toBeCloseTo(ref.loss, 5);

    const board = await client.getLeaderboard({ datasetId: sentimentId, metric: Metric.LOSS, split: DatasetSplit.ALL });
    expect(board.higherIsBetter).toBe(false);
    expect(board.entries).toHaveLength(2);
    const baseEntry = board.entries.find((x) => x.isBaseline);
    const adapterEntry = board.entries.find((x) => !x.isBaseline);
    expect(baseEntry?.deltaVsBaseline).toBe(0);
    expect(adapterEntry?.deltaVsBaseline).toBeCloseTo(loss - (baseEntry?.value ?? 0), 12);
    // Lower loss ranks first.
    expect(board.entries[0]?.value).toBeLessThanOrEqual(board.entries[1]?.value ?? 0);
    expect(board.entries.map((x) => x.rank)).toEqual([1, 2]);

    const listed = await client.listEvaluations({
      jobIds: ['job-1'],
      statuses: [],
      ids: [],
      datasetId: '',
      baseModelId: '',
    });
    expect(listed.evaluations.map((x) => x.id)).toEqual([adapterId]);
    const paged = await client.listEvaluations({
      page: { pageSize: 1, pageToken: '' },
      jobIds: [],
      statuses: [],
      ids: [],
      datasetId: sentimentId,
      baseModelId: '',
    });
    expect(paged.evaluations[0]?.id).toBe(adapterId); // newest first
    const next = await client.listEvaluations({
      page: { pageSize: 1, pageToken: paged.page?.nextPageToken ?? '' },
      jobIds: [],
      statuses: [],
      ids: [],
      datasetId: sentimentId,
      baseModelId: '',
    });
    expect(next.evaluations[0]?.id).toBe(baselineId);
    const trainerLayout = await evaluate(
      { target: { $case: 'jobId', value: 'job-t' } },
      sentimentId,
      [Metric.PERPLEXITY],
      {
        maxExamples: 2n,
      },
    );
    expect(trainerLayout.evaluation?.baseModelId).toBe('tiny-gpt2');
    expect((await until(trainerLayout.evaluation?.id ?? '')).status).toBe(EvaluationStatus.SUCCEEDED);

    // The leaderboard names each adapter's method (from its saved config); the baseline has none.
    expect(adapterEntry?.method).toBe(MethodKind.LORA);
    expect(baseEntry?.method).toBe(MethodKind.UNSPECIFIED);
    expect(e.method).toBe(MethodKind.LORA);

    // A checkpoint by its trainer id: the checkpoint's own weights, on the job's base.
    const ck = await evaluate({ target: { $case: 'checkpointId', value: 'job-t-ckpt-3' } }, sentimentId, [Metric.LOSS]);
    expect(ck.evaluation).toMatchObject({ baseModelId: 'tiny-gpt2', jobId: 'job-t', method: MethodKind.LORA });
    const ckDone = await until(ck.evaluation?.id ?? '');
    expect(ckDone.status).toBe(EvaluationStatus.SUCCEEDED);
    const ckLoss = ckDone.results.find((r) => r.metric === Metric.LOSS)?.value ?? Number.NaN;
    const ckRef = await engineReference(join(tmp, 'adapters/jobs/job-t/checkpoints/checkpoint-3'));
    expect(ckLoss).toBeCloseTo(ckRef.loss, 5);
    expect(Math.abs(ckLoss - loss)).toBeGreaterThan(1e-3);
    const withCk = await client.getLeaderboard({
      datasetId: sentimentId,
      metric: Metric.LOSS,
      split: DatasetSplit.ALL,
    });
    expect(withCk.entries.find((x) => x.evaluationId === ckDone.id)).toMatchObject({
      name: 'job-t-ckpt-3',
      jobId: 'job-t',
      method: MethodKind.LORA,
    });
    const missing = await grpcCode(
      evaluate({ target: { $case: 'checkpointId', value: 'job-t-ckpt-9' } }, sentimentId, [Metric.LOSS]),
    );
    expect(missing.code).toBe(Status.NOT_FOUND);
    expect(missing.details).toMatch(/job-t-ckpt-9/);
    const malformed = await grpcCode(
      evaluate({ target: { $case: 'checkpointId', value: '../etc-ckpt-1' } }, sentimentId, [Metric.LOSS]),
    );
    expect(malformed.code).toBe(Status.INVALID_ARGUMENT);
    expect(malformed.details).toMatch(/checkpoint_id/);
  }, 60_000);

  it('evaluates a BitFit job (tunemesh_config.json instead of adapter_config.json) to the engine loss', async () => {
    const baseDir = join(models, 'tiny-gpt2');
    const loaded = await loadModelDir(baseDir);
    const bitfit = getMethod('bitfit').apply(
      { config: loaded.config, weights: loaded.weights, dir: baseDir },
      {},
      { seed: 1 },
    );
    // Trained biases: moved away from the base's, so the loss differs from the baseline's.
    for (const t of bitfit.params.values()) {
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) + 0.2 * ((i % 7) - 3);
    }
    const dir = join(tmp, 'adapters/jobs/job-bitfit/adapter');
    await bitfit.save(dir, bitfit.params);
    const res = await evaluate({ target: { $case: 'jobId', value: 'job-bitfit' } }, sentimentId, [Metric.LOSS]);
    expect(res.evaluation).toMatchObject({ baseModelId: 'tiny-gpt2', jobId: 'job-bitfit', method: MethodKind.BITFIT });
    const e = await until(res.evaluation?.id ?? '');
    expect(e.status).toBe(EvaluationStatus.SUCCEEDED);
    const loss = e.results.find((r) => r.metric === Metric.LOSS)?.value ?? Number.NaN;
    expect(loss).toBeCloseTo((await engineReference(dir)).loss, 5);
    expect(Math.abs(loss - (await engineReference()).loss)).toBeGreaterThan(1e-3);
  }, 30_000);

  it('compares models side by side on the same examples', async () => {
    const res = await client.compareAdapters({
      models: [base, adapter],
      datasetId: sentimentId,
      split: DatasetSplit.ALL,
      count: 3,
      offset: 1n,
    });
    expect(res.samples.map((s) => s.index)).toEqual([1n, 2n, 3n]);
    const adapterEval = (await client.getEvaluation({ id: adapterId })).evaluation;
    const baseEval = (await client.getEvaluation({ id: baselineId })).evaluation;
    for (const [i, s] of res.samples.entries()) {
      expect(s.prompt).toBe(adapterEval?.samples[i + 1]?.prompt);
      expect(s.outputs).toHaveLength(2);
      for (const o of s.outputs) expect([' negative', ' positive']).toContain(o);
      expect(s.outputs[1]).toBe(adapterEval?.samples[i + 1]?.output);
      expect(s.losses[1]).toBeCloseTo(adapterEval?.samples[i + 1]?.loss ?? 0, 4);
    }
    expect(res.samples[0]?.losses[0]).toBeCloseTo(baseEval?.samples[1]?.loss ?? 0, 4);
    expect(
      (
        await grpcCode(
          client.compareAdapters({ models: [base], datasetId: sentimentId, split: 0, count: 1, offset: 0n }),
        )
      ).code,
    ).toBe(Status.INVALID_ARGUMENT);
  }, 30_000);

  it('computes generation metrics from greedy outputs, recorded as samples', async () => {
    const res = await evaluate(base, alpacaId, [Metric.EXACT_MATCH, Metric.TOKEN_F1, Metric.ROUGE_L, Metric.BLEU], {
      generation: { decoding: Decoding.GREEDY, maxNewTokens: 6, topK: 0, stop: [] },
      numSamples: 10,
    });
    const e = await until(res.evaluation?.id ?? '');
    expect(e.error).toBeUndefined();
    expect(e.samples).toHaveLength(4);
    expect(e.samples.map((s) => s.reference.trim())).toEqual(['Blue', 'hello there', 'one two three', 'An apple']);
    const outs = e.samples.map((s) => s.output);
    const refs = e.samples.map((s) => [s.reference]);
    expect(outs.every((o) => typeof o === 'string')).toBe(true);
    const v = (m: Metric) => e.results.find((r) => r.metric === m)?.value;
    expect(v(Metric.EXACT_MATCH)).toBe(scoreGenerations('exact_match', outs, refs));
    expect(v(Metric.TOKEN_F1)).toBe(scoreGenerations('token_f1', outs, refs));
    expect(v(Metric.ROUGE_L)).toBe(scoreGenerations('rouge_l', outs, refs));
    expect(v(Metric.BLEU)).toBe(scoreGenerations('bleu', outs, refs));
    expect(e.generation?.maxNewTokens).toBe(6);
  }, 40_000);

  it('cancels a queued evaluation; cancelling again is a no-op, a finished one is refused', async () => {
    const first = await evaluate(base, sentimentId, [Metric.ACCURACY]);
    const second = await evaluate(base, sentimentId, [Metric.ACCURACY]);
    const c = await client.cancelEvaluation({ id: second.evaluation?.id ?? '' });
    expect(c.evaluation?.status).toBe(EvaluationStatus.CANCELLED);
    const again = await client.cancelEvaluation({ id: second.evaluation?.id ?? '' });
    expect(again.evaluation?.status).toBe(EvaluationStatus.CANCELLED);
    // The running one stops between batches.
    const r = await client.cancelEvaluation({ id: first.evaluation?.id ?? '' });
    expect([EvaluationStatus.CANCELLED, EvaluationStatus.SUCCEEDED]).toContain(r.evaluation?.status);
    expect((await grpcCode(client.cancelEvaluation({ id: baselineId }))).code).toBe(Status.FAILED_PRECONDITION);
    await new Promise((r2) => setTimeout(r2, 100));
    expect(events.some((x) => x.subject === `eval.${second.evaluation?.id}.cancelled`)).toBe(true);
  }, 40_000);

  it('generates from a prompt (equal to the engine) and from chat messages, seeded, with stop strings', async () => {
    const prompt = 'Review: a fine film\nSentiment:';
    const res = await client.generate({
      model: base,
      input: { $case: 'prompt', value: prompt },
      generation: { decoding: Decoding.GREEDY, maxNewTokens: 8, topK: 0, stop: [] },
    });
    const dir = join(models, 'tiny-gpt2');
    const tokenizer = await loadTokenizer(dir);
    const m = await openModel(dir, { threads: 1 });
    const ids = tokenizer.encode(prompt);
    const [gen] = await generate(await m.decoder(), [ids], {
      maxNewTokens: 8,
      greedy: true,
      padId: tokenizer.padTokenId ?? 0,
      stopTokens: tokenizer.stopTokenIds,
    });
    await m.release();
    expect(res.text).toBe(tokenizer.decode(gen?.ids ?? [], { skipSpecialTokens: true }));
    expect(res.promptTokens).toBe(ids.length);
    expect(res.completionTokens).toBe(gen?.ids.length);
    expect([FinishReason.LENGTH, FinishReason.EOS]).toContain(res.finishReason);
    if (res.text.length > 1) {
      const stop = res.text.slice(1, 2);
      const cut = await client.generate({
        model: base,
        input: { $case: 'prompt', value: prompt },
        generation: { decoding: Decoding.GREEDY, maxNewTokens: 8, topK: 0, stop: [stop] },
      });
      expect(cut.text).toBe(res.text.slice(0, res.text.indexOf(stop)));
      expect(cut.finishReason).toBe(FinishReason.STOP_SEQUENCE);
      const parts: string[] = [];
      for await (const m of client.streamGenerate({
        model: base,
        input: { $case: 'prompt', value: prompt },
        generation: { decoding: Decoding.GREEDY, maxNewTokens: 8, topK: 0, stop: [stop] },
      }))
        parts.push(m.delta);
      expect(parts.join('')).toBe(cut.text);
    }
    // Streamed: the deltas add up to the same text, and the last message carries the totals.
    const streamed: { delta: string; summary?: { text: string; completionTokens: number } }[] = [];
    for await (const m of client.streamGenerate({
      model: base,
      input: { $case: 'prompt', value: prompt },
      generation: { decoding: Decoding.GREEDY, maxNewTokens: 8, topK: 0, stop: [] },
    }))
      streamed.push(m);
    expect(streamed.map((m) => m.delta).join('')).toBe(res.text);
    expect(streamed.at(-1)?.summary?.text).toBe(res.text);
    expect(streamed.at(-1)?.summary?.completionTokens).toBe(res.completionTokens);
    expect(streamed.slice(0, -1).every((m) => m.summary === undefined)).toBe(true);
    const chat = () =>
      client.generate({
        model: { target: { $case: 'baseModelId', value: 'tiny-qwen2' } },
        input: { $case: 'chat', value: { messages: [{ role: ChatRole.USER, content: 'Hi there' }] } },
        generation: { decoding: Decoding.SAMPLE, maxNewTokens: 6, topK: 20, temperature: 0.8, seed: 7, stop: [] },
      });
    const [a, b] = [await chat(), await chat()];
    expect(a.text).toBe(b.text);
    expect(a.promptTokens).toBeGreaterThan(3);
    // repetition_penalty reaches the engine: greedy output with a strong penalty repeats no token the plain one
    // repeats (the engine's tests check the rule itself against a full-recompute reference).
    const greedy = (repetitionPenalty?: number) =>
      client.generate({
        model: base,
        input: { $case: 'prompt', value: 'x' },
        generation: {
          decoding: Decoding.GREEDY,
          maxNewTokens: 16,
          topK: 0,
          stop: [],
          ...(repetitionPenalty !== undefined && { repetitionPenalty }),
        },
      });
    const plain = await greedy();
    const penalised = await greedy(1e6);
    expect(penalised.text).not.toBe(plain.text);
    const bad = await grpcCode(greedy(0.5));
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/repetition_penalty must be a finite number >= 1, got 0.5/);
  }, 30_000);

  it('merges an adapter, verified against base+adapter, and evaluates the merged model to the same loss', async () => {
    const { artifact } = await client.mergeAdapter({ adapter, dtype: 0, name: '', skipVerification: false });
    expect(artifact?.kind).toBe(ArtifactKind.MERGED_MODEL);
    expect(artifact?.baseModelId).toBe('tiny-gpt2');
    expect(artifact?.method).toBe(MethodKind.LORA);
    const v = artifact?.verification;
    expect(v?.passed).toBe(true);
    expect(v?.maxAbsLogitDiff).toBeLessThan(1e-3);
    expect(Math.abs((v?.adapterLoss ?? 0) - (v?.mergedLoss ?? 1))).toBeLessThan(1e-4);
    expect(v?.sampleTokens).toBeGreaterThan(10n);
    expect(artifact?.location?.sizeBytes).toBeGreaterThan(0n);
    expect((await client.getArtifact({ id: artifact?.id ?? '' })).artifact?.id).toBe(artifact?.id);
    const listed = await client.listArtifacts({ kind: ArtifactKind.MERGED_MODEL, baseModelId: '', ids: [] });
    expect(listed.artifacts.map((a) => a.id)).toContain(artifact?.id);

    // The merged directory is a plain model: on the dataset its loss equals the adapter's.
    const merged: ModelRef = { target: { $case: 'artifactId', value: artifact?.id ?? '' } };
    const me = await until((await evaluate(merged, sentimentId, [Metric.LOSS])).evaluation?.id ?? '');
    const ae = await until((await evaluate(adapter, sentimentId, [Metric.LOSS])).evaluation?.id ?? '');
    expect(me.error?.message ?? '').toBe('');
    expect(me.status).toBe(EvaluationStatus.SUCCEEDED);
    expect(me.results[0]?.value).toBeCloseTo(ae.results[0]?.value ?? 0, 4);

    const half = (await client.mergeAdapter({ adapter, dtype: Dtype.BF16, name: 'bf16', skipVerification: false }))
      .artifact;
    expect(half?.dtype).toBe(Dtype.BF16);
    expect(half?.verification?.passed).toBe(true);
    expect(half?.location?.sizeBytes).toBeLessThan(artifact?.location?.sizeBytes ?? 0n);

    const prompt = await grpcCode(
      client.mergeAdapter({
        adapter: { target: { $case: 'jobId', value: 'job-prompt' } },
        dtype: 0,
        name: '',
        skipVerification: false,
      }),
    );
    expect(prompt.code).toBe(Status.FAILED_PRECONDITION);
    expect(prompt.details).toMatch(/PROMPT_TUNING adapter cannot be merged: prompt tuning adds virtual tokens/);
    const notAdapter = await grpcCode(
      client.mergeAdapter({ adapter: base, dtype: 0, name: '', skipVerification: false }),
    );
    expect(notAdapter.code).toBe(Status.INVALID_ARGUMENT);
  }, 40_000);

  it('merges an IA3 adapter (PEFT fixture), verified against base+adapter', async () => {
    const ia3: ModelRef = { target: { $case: 'jobId', value: 'job-ia3' } };
    const { artifact } = await client.mergeAdapter({ adapter: ia3, dtype: 0, name: '', skipVerification: false });
    expect(artifact?.method).toBe(MethodKind.IA3);
    expect(artifact?.verification?.passed).toBe(true);
    expect(artifact?.verification?.maxAbsLogitDiff).toBeLessThan(1e-3);
    const v = artifact?.verification;
    expect(Math.abs((v?.adapterLoss ?? 0) - (v?.mergedLoss ?? 1))).toBeLessThan(1e-4);
    // exported as safetensors (merged first); an adapter that does not merge is refused naming why
    const exported = await client.exportModel({
      model: ia3,
      format: ExportFormat.SAFETENSORS,
      dtype: 0,
      name: '',
      smokePrompt: '',
      skipSmokeTest: true,
    });
    expect(exported.artifact?.location?.sizeBytes).toBeGreaterThan(0n);
    const prompt = await grpcCode(
      client.exportModel({
        model: { target: { $case: 'jobId', value: 'job-prompt' } },
        format: ExportFormat.SAFETENSORS,
        dtype: 0,
        name: '',
        smokePrompt: '',
        skipSmokeTest: true,
      }),
    );
    expect(prompt.code).toBe(Status.FAILED_PRECONDITION);
    expect(prompt.details).toMatch(/cannot export: .*cannot merge a PROMPT_TUNING adapter/);
  }, 30_000);

  it('exports an adapter as ONNX with a KV cache that a bare onnxruntime-node session runs, and as bf16 safetensors', async () => {
    const { artifact } = await client.exportModel({
      model: adapter,
      format: ExportFormat.ONNX,
      dtype: 0,
      name: '',
      smokePrompt: 'Review: great',
      skipSmokeTest: false,
    });
    expect(artifact?.kind).toBe(ArtifactKind.ONNX_MODEL);
    expect(artifact?.location?.sizeBytes).toBeGreaterThan(0n);
    const smokeOut = artifact?.smokeGeneration?.output ?? '';
    // A plain onnxruntime-node session, no tunemesh code: greedy decoding with the past_key_values interface.
    const ort = createRequire(join(root, 'packages/engine/package.json'))('onnxruntime-node') as Ort;
    const dir = artifact?.location?.path ?? '';
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      n_layer: number;
      n_head: number;
      n_embd: number;
    };
    const tokenizer = await loadTokenizer(dir);
    const headDim = cfg.n_embd / cfg.n_head;
    let ids = tokenizer.encode('Review: great');
    let past: Record<string, OrtTensor> = {};
    for (let l = 0; l < cfg.n_layer; l++)
      for (const kv of ['key', 'value'])
        past[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
          1,
          cfg.n_head,
          0,
          headDim,
        ]);
    let pos = 0;
    const outIds: number[] = [];
    for (let step = 0; step < 32; step++) {
      const total = pos + ids.length;
      const feeds = {
        ...past,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(pos + i))), [1, ids.length]),
      };
      const out = await session.run(feeds);
      const logits = out.logits?.data as Float32Array;
      const vocab = logits.length / ids.length;
      const last = logits.subarray((ids.length - 1) * vocab);
      let best = 0;
      for (let v = 1; v < vocab; v++) if ((last[v] ?? 0) > (last[best] ?? 0)) best = v;
      outIds.push(best);
      if (tokenizer.stopTokenIds.includes(best)) break;
      past = {};
      for (let l = 0; l < cfg.n_layer; l++)
        for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`] as never;
      pos = total;
      ids = [best];
    }
    await session.release();
    expect(tokenizer.decode(outIds, { skipSpecialTokens: true })).toBe(smokeOut);

    const hf = (
      await client.exportModel({
        model: base,
        format: ExportFormat.SAFETENSORS,
        dtype: Dtype.BF16,
        name: 'b',
        smokePrompt: '',
        skipSmokeTest: false,
      })
    ).artifact;
    expect(hf?.kind).toBe(ArtifactKind.MERGED_MODEL);
    expect(hf?.dtype).toBe(Dtype.BF16);
    expect(hf?.smokeGeneration?.prompt).toBe('Hello, my name is');
    expect(
      (
        await grpcCode(
          client.exportModel({
            model: base,
            format: ExportFormat.ONNX,
            dtype: Dtype.F16,
            name: '',
            smokePrompt: '',
            skipSmokeTest: true,
          }),
        )
      ).code,
    ).toBe(Status.INVALID_ARGUMENT);
  }, 40_000);

  it('combines adapters (cat of one adapter with itself at 0.5 + 0.5 evaluates to its loss); refuses other bases', async () => {
    const twin: ModelRef = { target: { $case: 'jobId', value: 'job-1b' } };
    const { artifact } = await client.combineAdapters({
      adapters: [
        { adapter, weight: 0.5 },
        { adapter: twin, weight: 0.5 },
      ],
      combinationType: CombinationType.CAT,
      svdRank: 0,
      majoritySignMethod: 0,
      name: 'halves',
    });
    expect(artifact?.kind).toBe(ArtifactKind.ADAPTER);
    expect(artifact?.baseModelId).toBe('tiny-gpt2');
    expect(artifact?.location?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const ref: ModelRef = { target: { $case: 'artifactId', value: artifact?.id ?? '' } };
    const ce = await until((await evaluate(ref, sentimentId, [Metric.LOSS], { maxExamples: 8n })).evaluation?.id ?? '');
    const ae = await until(
      (await evaluate(adapter, sentimentId, [Metric.LOSS], { maxExamples: 8n })).evaluation?.id ?? '',
    );
    expect(ce.error).toBeUndefined();
    expect(ce.results[0]?.value).toBeCloseTo(ae.results[0]?.value ?? 0, 4);

    const qwen: ModelRef = { target: { $case: 'jobId', value: 'job-q' } };
    const other = await grpcCode(
      client.combineAdapters({
        adapters: [
          { adapter, weight: 1 },
          { adapter: qwen, weight: 1 },
        ],
        combinationType: CombinationType.LINEAR,
        svdRank: 0,
        majoritySignMethod: 0,
        name: '',
      }),
    );
    expect(other.code).toBe(Status.FAILED_PRECONDITION);
    expect(other.details).toMatch(/different bases/);
    const ties = await grpcCode(
      client.combineAdapters({
        adapters: [
          { adapter, weight: 1 },
          { adapter: twin, weight: 1 },
        ],
        combinationType: CombinationType.TIES,
        svdRank: 0,
        majoritySignMethod: 0,
        name: '',
      }),
    );
    expect(ties.code).toBe(Status.INVALID_ARGUMENT);
    expect(ties.details).toMatch(/ties needs a density/);
    const tied = await client.combineAdapters({
      adapters: [
        { adapter, weight: 1 },
        { adapter: twin, weight: 1 },
      ],
      combinationType: CombinationType.TIES,
      density: 0.5,
      svdRank: 0,
      majoritySignMethod: 0,
      name: '',
    });
    expect(tied.artifact?.kind).toBe(ArtifactKind.ADAPTER);
  }, 40_000);

  it('evaluates a completed job automatically (job.completed), with one baseline per base, dataset and metric', async () => {
    const rows = (await readFile(sentimentFile, 'utf8')).trimEnd();
    await writeFile(join(tmp, 'data/sentiment-val.jsonl'), `${rows}\n{"text": "Not bad at all.", "label": 1}\n`);
    const d = await datasets.importDatasetFromPath({
      path: 'sentiment-val.jsonl',
      options: options({
        template: template({ promptTemplate: TEMPLATE, labelWords: LABEL_WORDS }),
        split: { holdout: { $case: 'validationCount', value: 8n } },
      }),
      validationPath: '',
    });
    const datasetId = d.dataset?.id ?? '';
    for (const job of ['job-auto', 'job-auto2'])
      await cp(join(fixtures, 'adapters/tiny-gpt2-lora'), join(tmp, 'adapters', job), { recursive: true });
    const js = evaluator.nats.nc.jetstream();
    const complete = (jobId: string) =>
      publishEvent(
        js,
        jobSubject(jobId, 'completed'),
        JobCompleted,
        JobCompleted.fromPartial({
          jobId,
          sequence: 9n,
          baseModelId: 'tiny-gpt2',
          datasetId,
          evaluationMetrics: [Metric.ACCURACY, Metric.LOSS],
        }),
      );
    const settled = async (filter: { jobIds?: string[]; datasetId?: string }, count: number) => {
      for (let i = 0; i < 400; i++) {
        const l = await client.listEvaluations({
          jobIds: filter.jobIds ?? [],
          datasetId: filter.datasetId ?? '',
          statuses: [EvaluationStatus.SUCCEEDED],
          ids: [],
          baseModelId: '',
        });
        if (l.evaluations.length >= count) return l.evaluations;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('automatic evaluations did not finish');
    };
    await complete('job-auto');
    const [auto] = await settled({ jobIds: ['job-auto'] }, 1);
    expect(auto?.trigger).toBe(EvaluationTrigger.JOB_COMPLETED);
    expect(auto?.split).toBe(DatasetSplit.VALIDATION);
    expect(auto?.progress?.examplesTotal).toBe(8n);
    expect(auto?.metrics).toEqual([Metric.ACCURACY, Metric.LOSS]);
    await complete('job-auto2');
    await complete('job-auto'); // a repeated event queues nothing new
    await settled({ jobIds: ['job-auto2'] }, 1);
    const all = await settled({ datasetId }, 3);
    await new Promise((r) => setTimeout(r, 300));
    const again = await client.listEvaluations({ jobIds: [], datasetId, statuses: [], ids: [], baseModelId: '' });
    expect(again.evaluations.filter((e) => e.jobId === 'job-auto')).toHaveLength(1);
    const baselines = again.evaluations.filter((e) => e.isBaseline);
    expect(baselines).toHaveLength(1);
    expect(baselines[0]?.trigger).toBe(EvaluationTrigger.BASELINE);
    expect(all.length).toBe(3);
    const board = await client.getLeaderboard({ datasetId, metric: Metric.ACCURACY, split: DatasetSplit.VALIDATION });
    expect(board.entries).toHaveLength(3);
    expect(board.entries.filter((e) => e.deltaVsBaseline !== undefined)).toHaveLength(3);
  }, 40_000);

  it('refuses bad input naming what does not fit', async () => {
    const chat = await grpcCode(evaluate(base, alpacaId, [Metric.ACCURACY]));
    expect(chat.code).toBe(Status.INVALID_ARGUMENT);
    expect(chat.details).toMatch(/ACCURACY needs a classification dataset with labels; dataset .* is ALPACA/);
    const gen = await grpcCode(evaluate(base, sentimentId, [Metric.BLEU]));
    expect(gen.details).toMatch(/BLEU needs reference outputs/);
    expect((await grpcCode(evaluate(base, sentimentId, []))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcCode(evaluate(base, 'ds_nope', [Metric.LOSS]))).code).toBe(Status.NOT_FOUND);
    const missing = await grpcCode(
      evaluate({ target: { $case: 'baseModelId', value: 'no-such-model' } }, sentimentId, [Metric.LOSS]),
    );
    expect(missing.code).toBe(Status.NOT_FOUND);
    const outside = await grpcCode(evaluate({ target: { $case: 'jobId', value: '../x' } }, sentimentId, [Metric.LOSS]));
    expect(outside.code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcCode(client.getEvaluation({ id: 'ev_nope' }))).code).toBe(Status.NOT_FOUND);
    expect((await grpcCode(client.getArtifact({ id: 'ar_nope' }))).code).toBe(Status.NOT_FOUND);
  });
});
