// Query: each field one gRPC call (or a loader); nodes are passed on as proto messages and translated by the
// type resolvers (types.ts).
import { checkHealth, type HealthResult, type NatsHandle } from '@tunemesh/kit';
import { DatasetSplit, Device, JobStatus, MethodKind, Metric } from '@tunemesh/proto';
import { DEVELOPMENT_CALLER } from '../auth/authenticate.js';
import { METRIC_RENAMES, toGraphQLEnumOrNull, toProtoEnum } from '../enums.js';
import { badUserInput } from '../errors.js';
import type { MethodKind as MethodKindName, QueryResolvers } from '../generated/resolvers-types.js';
import { call } from '../grpc-call.js';
import { splitToProto } from '../inputs.js';
import { METHOD_DESCRIPTIONS } from '../methods.js';
import { connection, pageRequest } from './connection.js';

async function natsHealth(nats: NatsHandle): Promise<HealthResult> {
  const started = performance.now();
  try {
    // rtt() is a round trip to the server: it proves the connection is live, not just open.
    await nats.nc.rtt();
    return { status: 'SERVING', latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { status: 'UNREACHABLE', latencyMs: 0, error: err instanceof Error ? err.message : String(err) };
  }
}

export const Query: QueryResolvers = {
  async health(_parent, _args, { clients, nats }) {
    const targets = [clients.dataset, clients.trainer, clients.evaluator];
    const checks = await Promise.all([
      ...targets.map(async (t) => ({
        name: t.name,
        ...(await checkHealth(t.channel.channel, { component: 'gateway' })),
      })),
      natsHealth(nats).then((h) => ({ name: 'nats', ...h })),
    ]);
    const components = [
      { name: 'gateway', status: 'SERVING' as const, latencyMs: 0, error: null },
      ...checks.map((c) => ({ ...c, error: c.error ?? null })),
    ];
    return { status: components.every((c) => c.status === 'SERVING') ? 'SERVING' : 'NOT_SERVING', components };
  },

  async datasets(_parent, args, { clients }) {
    const request = { page: pageRequest(args) };
    const res = await call(clients.dataset, (o) => clients.dataset.client.listDatasets(request, o));
    return connection(res.datasets, res.page);
  },
  async dataset(_parent, { id }, { loaders }) {
    return loaders.dataset.load(id);
  },

  async baseModels(_parent, args, { clients }) {
    const request = { page: pageRequest(args) };
    const res = await call(clients.trainer, (o) => clients.trainer.client.listBaseModels(request, o));
    return connection(res.baseModels, res.page);
  },
  async baseModel(_parent, { id }, { clients }) {
    const res = await call(clients.trainer, (o) => clients.trainer.client.getBaseModel({ id }, o));
    return res.baseModel ?? null;
  },

  async fineTuneJobs(_parent, args, { clients }) {
    const request = { page: pageRequest(args), statuses: args.status ? [toProtoEnum(JobStatus, args.status)] : [] };
    const res = await call(clients.trainer, (o) => clients.trainer.client.listFineTuneJobs(request, o));
    return connection(res.jobs, res.page);
  },
  async fineTuneJob(_parent, { id }, { clients }) {
    const res = await call(clients.trainer, (o) => clients.trainer.client.getFineTuneJob({ id }, o));
    return res.job ?? null;
  },

  async evaluations(_parent, args, { clients }) {
    const request = {
      page: pageRequest(args),
      jobIds: args.jobId ? [args.jobId] : [],
      datasetId: args.datasetId ?? '',
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.listEvaluations(request, o));
    return connection(res.evaluations, res.page);
  },
  async evaluation(_parent, { id }, { clients }) {
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.getEvaluation({ id }, o));
    return res.evaluation ?? null;
  },

  async leaderboard(_parent, args, { clients }) {
    const request = {
      datasetId: args.datasetId,
      metric: toProtoEnum(Metric, args.metric, METRIC_RENAMES),
      split: splitToProto(args.split),
      page: pageRequest(args),
    };
    const res = await call(clients.evaluator, (o) => clients.evaluator.client.getLeaderboard(request, o));
    const end = res.page?.nextPageToken ?? '';
    return {
      higherIsBetter: res.higherIsBetter,
      entries: res.entries.map((e) => ({
        rank: e.rank,
        evaluationId: e.evaluationId,
        jobId: e.jobId === '' ? null : e.jobId,
        baseModelId: e.baseModelId,
        name: e.name,
        isBaseline: e.isBaseline,
        method: toGraphQLEnumOrNull<MethodKindName>(MethodKind, e.method, 'method'),
        value: e.value,
        deltaVsBaseline: e.deltaVsBaseline ?? null,
        evaluatedAt: e.evaluatedAt?.toISOString() ?? null,
      })),
      pageInfo: { hasNextPage: end !== '', endCursor: end === '' ? null : end },
    };
  },

  async trainerNodes(_parent, _args, { clients }) {
    const res = await call(clients.trainer, (o) =>
      clients.trainer.client.listTrainerNodes({ device: Device.UNSPECIFIED }, o),
    );
    return res.nodes;
  },

  methods() {
    return [...METHOD_DESCRIPTIONS];
  },

  viewer(_parent, _args, { auth }) {
    // The guard has already refused callers without a valid key, so a caller is always present here.
    const caller = auth.caller ?? DEVELOPMENT_CALLER;
    return { keyId: caller.keyId, role: caller.role, devMode: caller === DEVELOPMENT_CALLER };
  },

  async datasetPreview(_parent, args, { clients }) {
    const first = args.first ?? 5;
    if (!(Number.isInteger(first) && first >= 1 && first <= 100)) {
      throw badUserInput(`first must be a whole number from 1 to 100 (got ${first})`, 'first');
    }
    const offset = args.offset ?? 0;
    if (!(Number.isInteger(offset) && offset >= 0)) {
      throw badUserInput(`offset must be a whole number ≥ 0 (got ${offset})`, 'offset');
    }
    const request = {
      datasetId: args.datasetId,
      split: args.split ? toProtoEnum(DatasetSplit, args.split) : DatasetSplit.TRAIN,
      count: first,
      offset: BigInt(offset),
      tokenizer: args.tokenizerBaseModelId
        ? { source: { $case: 'baseModelId' as const, value: args.tokenizerBaseModelId } }
        : undefined,
    };
    const res = await call(clients.dataset, (o) => clients.dataset.client.previewDataset(request, o));
    return { examples: res.examples, splitSize: res.splitSize };
  },
};
