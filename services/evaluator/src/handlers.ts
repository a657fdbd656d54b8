// The evaluation RPCs: proto in, engine and store calls, proto out. Request checks that can fail fast (metrics,
// dataset format, label words) run here, so a bad request is refused with the field named instead of
// becoming a FAILED evaluation later.
import { randomUUID } from 'node:crypto';
import { loadTokenizer, METRIC_TASKS } from '@tunemesh/engine';
import {
  ClientError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  Status,
  UnavailableError,
} from '@tunemesh/kit';
import {
  type CancelEvaluationRequest,
  type CancelEvaluationResponse,
  type CombineAdaptersRequest,
  type CombineAdaptersResponse,
  type CompareAdaptersRequest,
  type CompareAdaptersResponse,
  type Dataset,
  DatasetFormat,
  DatasetSplit,
  type EvaluateAdapterRequest,
  type EvaluateAdapterResponse,
  type Evaluation,
  EvaluationStatus,
  EvaluationTrigger,
  type ExportModelRequest,
  type ExportModelResponse,
  type GenerateRequest,
  type GenerateResponse,
  type GetArtifactRequest,
  type GetArtifactResponse,
  type GetEvaluationRequest,
  type GetEvaluationResponse,
  type GetLeaderboardRequest,
  type GetLeaderboardResponse,
  type LeaderboardEntry,
  type ListArtifactsRequest,
  type ListArtifactsResponse,
  type ListEvaluationsRequest,
  type ListEvaluationsResponse,
  type MergeAdapterRequest,
  type MergeAdapterResponse,
  Metric,
  type StreamGenerateRequest,
  type StreamGenerateResponse,
} from '@tunemesh/proto';
import { combineRpc } from './combine.js';
import { compareRpc } from './compare.js';
import { metricName } from './compute.js';
import { type DatasetClient, readyDataset } from './examples.js';
import { exportRpc } from './export.js';
import { generateOptions, generateRpc, streamGenerateRpc } from './generation.js';
import { type EvaluationJobs, isTerminal } from './jobs.js';
import { mergeRpc } from './merge.js';
import { type ModelPaths, type ResolvedModel, resolveModel } from './models.js';
import type { ArtifactRecords } from './store/artifacts.js';
import type { EvaluationRecords } from './store/evaluations.js';

export interface HandlerDeps {
  readonly records: EvaluationRecords;
  readonly artifacts: ArtifactRecords;
  readonly storeDir: string;
  readonly jobs: EvaluationJobs;
  readonly datasets: DatasetClient;
  readonly paths: ModelPaths;
}

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;
const DEFAULT_BATCH = 8;

const splitOf = (s: DatasetSplit): DatasetSplit => (s === DatasetSplit.UNSPECIFIED ? DatasetSplit.VALIDATION : s);

/** The dataset service's answer, with its status kept (NOT_FOUND stays NOT_FOUND) and outages retryable. */
async function dataset(client: DatasetClient, id: string): Promise<Dataset> {
  if (id === '') throw new InvalidArgumentError('dataset_id is required', { field: 'dataset_id' });
  try {
    return await readyDataset(client, id);
  } catch (err) {
    if (err instanceof ClientError) {
      if (err.code === Status.NOT_FOUND) throw new NotFoundError(`dataset ${JSON.stringify(id)} does not exist`);
      if (err.code === Status.UNAVAILABLE)
        throw new UnavailableError(`the dataset service is unavailable: ${err.details}`);
      throw new FailedPreconditionError(`the dataset service refused dataset ${id}: ${err.details}`);
    }
    throw err;
  }
}

function checkMetrics(metrics: readonly Metric[], d: Dataset): void {
  if (metrics.length === 0) throw new InvalidArgumentError('at least one metric is required', { field: 'metrics' });
  for (const m of metrics) {
    const n = metricName(m);
    if (n === undefined) throw new InvalidArgumentError(`metric ${m} is not a metric`, { field: 'metrics' });
    const kind = METRIC_TASKS[n].kind;
    if (kind === 'categorical' && d.format !== DatasetFormat.CLASSIFICATION) {
      throw new InvalidArgumentError(
        `${Metric[m]} needs a classification dataset with labels; dataset ${d.id} is ${DatasetFormat[d.format]}`,
        { field: 'metrics' },
      );
    }
    if (kind === 'generative' && d.format !== DatasetFormat.ALPACA && d.format !== DatasetFormat.CHAT) {
      throw new InvalidArgumentError(
        `${Metric[m]} needs reference outputs (alpaca or chat rows); dataset ${d.id} is ${DatasetFormat[d.format]}`,
        { field: 'metrics' },
      );
    }
  }
}

/**
 * Checks and queues an evaluation (EvaluateAdapter, and the automatic ones after job.completed). `resolved`
 * overrides resolving req.model, for a job whose adapter the job.completed event locates.
 */
export async function submitEvaluation(
  deps: HandlerDeps,
  req: EvaluateAdapterRequest,
  trigger: EvaluationTrigger,
  resolved?: ResolvedModel,
): Promise<EvaluateAdapterResponse> {
  if (req.idempotencyKey !== '') {
    const earlier = await deps.records.byIdempotencyKey(req.idempotencyKey);
    if (earlier) return { evaluation: earlier, alreadyExisted: true };
  }
  if (req.numSamples > 1000) {
    throw new InvalidArgumentError(`num_samples is at most 1000, got ${req.numSamples}`, { field: 'num_samples' });
  }
  const model = resolved ?? (await resolveModel(req.model, deps.paths));
  const d = await dataset(deps.datasets, req.datasetId);
  checkMetrics(req.metrics, d);
  const labelWords = d.template?.labelWords ?? {};
  if (req.metrics.some((m) => metricName(m) === 'accuracy' || metricName(m) === 'macro_f1')) {
    const tokenizer = await loadTokenizer(model.baseDir);
    for (const [label, word] of Object.entries(labelWords)) {
      if (tokenizer.encode(word, { addSpecialTokens: false }).length === 0) {
        throw new InvalidArgumentError(
          `label ${JSON.stringify(label)}'s word ${JSON.stringify(word)} tokenises to nothing with ${model.baseModelId}'s tokenizer`,
          { field: 'dataset.template.label_words' },
        );
      }
    }
  }
  if (req.metrics.some((m) => METRIC_TASKS[metricName(m) ?? 'loss'].kind === 'generative')) {
    generateOptions(req.generation, await loadTokenizer(model.baseDir)); // refuses bad settings now
  }
  const now = new Date();
  const evaluation: Evaluation = {
    id: `ev_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
    status: EvaluationStatus.QUEUED,
    trigger,
    ...(req.model && { model: req.model }),
    baseModelId: model.baseModelId,
    jobId: model.jobId,
    isBaseline: model.isBaseline,
    method: model.method,
    datasetId: d.id,
    split: splitOf(req.split),
    metrics: [...req.metrics],
    generation: req.generation ?? { decoding: 0, maxNewTokens: 0, topK: 0, stop: [] },
    maxExamples: req.maxExamples,
    progress: { examplesDone: 0n, examplesTotal: 0n, fraction: 0 },
    results: [],
    labelScores: [],
    samples: [],
    createdAt: now,
  };
  await deps.records.insert(evaluation, req.idempotencyKey === '' ? null : req.idempotencyKey);
  deps.jobs.enqueue({
    evaluation: structuredClone(evaluation),
    model,
    labelWords,
    numSamples: req.numSamples === 0 ? 20 : req.numSamples,
    batchSize: req.batchSize === 0 ? DEFAULT_BATCH : req.batchSize,
  });
  return { evaluation, alreadyExisted: false };
}

export function evaluationHandlers(deps: HandlerDeps) {
  return {
    evaluateAdapter: (req: EvaluateAdapterRequest): Promise<EvaluateAdapterResponse> =>
      submitEvaluation(deps, req, EvaluationTrigger.MANUAL),

    async getEvaluation(req: GetEvaluationRequest): Promise<GetEvaluationResponse> {
      const e = await deps.records.get(req.id);
      if (!e) throw new NotFoundError(`evaluation ${JSON.stringify(req.id)} does not exist`);
      return { evaluation: e };
    },

    async listEvaluations(req: ListEvaluationsRequest): Promise<ListEvaluationsResponse> {
      const size = Math.min(MAX_PAGE, req.page?.pageSize || DEFAULT_PAGE);
      const token = req.page?.pageToken ?? '';
      if (token !== '' && !/^\d+$/.test(token)) {
        throw new InvalidArgumentError('page_token is not one this server issued', { field: 'page.page_token' });
      }
      const rows = await deps.records.list({
        jobIds: req.jobIds,
        ids: req.ids,
        datasetId: req.datasetId,
        baseModelId: req.baseModelId,
        statuses: req.statuses,
        ...(token !== '' && { beforeSeq: Number(token) }),
        limit: size + 1,
      });
      const page = rows.slice(0, size);
      const more = rows.length > size;
      return {
        evaluations: page.map((r) => r.evaluation),
        page: { nextPageToken: more ? String(page[page.length - 1]?.seq) : '' },
      };
    },

    async cancelEvaluation(req: CancelEvaluationRequest): Promise<CancelEvaluationResponse> {
      const e = await deps.records.get(req.id);
      if (!e) throw new NotFoundError(`evaluation ${JSON.stringify(req.id)} does not exist`);
      if (e.status === EvaluationStatus.CANCELLED) return { evaluation: e };
      if (isTerminal(e.status)) {
        throw new FailedPreconditionError(`evaluation ${e.id} has already ${EvaluationStatus[e.status]}`);
      }
      await deps.jobs.cancel(e.id);
      return { evaluation: (await deps.records.get(e.id)) ?? e };
    },

    async mergeAdapter(req: MergeAdapterRequest): Promise<MergeAdapterResponse> {
      return { artifact: await mergeRpc(req, deps) };
    },

    async compareAdapters(req: CompareAdaptersRequest, ctx: { signal: AbortSignal }): Promise<CompareAdaptersResponse> {
      return compareRpc(req, deps, ctx.signal);
    },

    async combineAdapters(req: CombineAdaptersRequest): Promise<CombineAdaptersResponse> {
      return { artifact: await combineRpc(req, deps) };
    },

    async exportModel(req: ExportModelRequest): Promise<ExportModelResponse> {
      return { artifact: await exportRpc(req, deps) };
    },

    async getArtifact(req: GetArtifactRequest): Promise<GetArtifactResponse> {
      const a = await deps.artifacts.get(req.id);
      if (!a) throw new NotFoundError(`artefact ${JSON.stringify(req.id)} does not exist`);
      return { artifact: a };
    },

    async listArtifacts(req: ListArtifactsRequest): Promise<ListArtifactsResponse> {
      const size = Math.min(MAX_PAGE, req.page?.pageSize || DEFAULT_PAGE);
      const token = req.page?.pageToken ?? '';
      if (token !== '' && !/^\d+$/.test(token)) {
        throw new InvalidArgumentError('page_token is not one this server issued', { field: 'page.page_token' });
      }
      const rows = await deps.artifacts.list({
        kind: req.kind,
        baseModelId: req.baseModelId,
        ids: req.ids,
        ...(token !== '' && { beforeSeq: Number(token) }),
        limit: size + 1,
      });
      const page = rows.slice(0, size);
      return {
        artifacts: page.map((r) => r.artifact),
        page: { nextPageToken: rows.length > size ? String(page[page.length - 1]?.seq) : '' },
      };
    },

    streamGenerate: (req: StreamGenerateRequest, ctx: { signal: AbortSignal }): AsyncIterable<StreamGenerateResponse> =>
      streamGenerateRpc(req, deps.paths, ctx.signal),

    generate: (req: GenerateRequest): Promise<GenerateResponse> => generateRpc(req, deps.paths),

    async getLeaderboard(req: GetLeaderboardRequest): Promise<GetLeaderboardResponse> {
      const name = metricName(req.metric);
      if (name === undefined) throw new InvalidArgumentError('metric is required', { field: 'metric' });
      if (req.datasetId === '') throw new InvalidArgumentError('dataset_id is required', { field: 'dataset_id' });
      const higher = METRIC_TASKS[name].higherIsBetter;
      const all = await deps.records.succeededOn(req.datasetId, splitOf(req.split));
      // The latest SUCCEEDED evaluation per model that has the metric (rows come newest first).
      const latest = new Map<string, { e: Evaluation; value: number }>();
      for (const e of all) {
        const t = e.model?.target;
        const key = t ? `${t.$case}:${t.value}` : e.id;
        const r = e.results.find((x) => x.metric === req.metric);
        if (r && !latest.has(key)) latest.set(key, { e, value: r.value });
      }
      const baselines = new Map<string, number>();
      for (const { e, value } of latest.values()) if (e.isBaseline) baselines.set(e.baseModelId, value);
      const sorted = [...latest.values()].sort((a, b) => (higher ? b.value - a.value : a.value - b.value));
      const entries: LeaderboardEntry[] = [];
      sorted.forEach(({ e, value }, i) => {
        const prev = entries[i - 1];
        const rank = prev && prev.value === value ? prev.rank : i + 1;
        const base = baselines.get(e.baseModelId);
        entries.push({
          rank,
          evaluationId: e.id,
          ...(e.model && { model: e.model }),
          baseModelId: e.baseModelId,
          jobId: e.jobId,
          method: e.method,
          name: e.isBaseline
            ? e.baseModelId
            : e.model?.target?.$case === 'checkpointId'
              ? e.model.target.value
              : e.jobId || e.id,
          isBaseline: e.isBaseline,
          value,
          ...(base !== undefined && { deltaVsBaseline: value - base }),
          ...(e.finishedAt && { evaluatedAt: e.finishedAt }),
        });
      });
      const size = Math.min(MAX_PAGE, req.page?.pageSize || DEFAULT_PAGE);
      const token = req.page?.pageToken ?? '';
      const offset = token === '' ? 0 : Number(token);
      if (!Number.isInteger(offset) || offset < 0) {
        throw new InvalidArgumentError('page_token is not one this server issued', { field: 'page.page_token' });
      }
      const page = entries.slice(offset, offset + size);
      return {
        entries: page,
        higherIsBetter: higher,
        page: {
          nextPageToken: offset + size < entries.length ? String(offset + size) : '',
          totalSize: BigInt(entries.length),
        },
      };
    },
  };
}
