// Resolvers: each one calls a service over gRPC and translates; the gateway holds no domain state. Until the
// services are built they answer UNIMPLEMENTED, which reaches the client as extensions.code NOT_IMPLEMENTED.
import { checkHealth, type HealthResult, type NatsHandle } from '@tunemesh/kit';
import {
  type BaseModel,
  type Dataset,
  DatasetStatus,
  type Evaluation,
  EvaluationStatus,
  type FineTuneJob,
  JobStatus,
  Metric,
  type PageResponse,
} from '@tunemesh/proto';
import { GraphQLError } from 'graphql/index.js';
import type { MeshClients, ServiceTarget } from './clients.js';
import { graphQLErrorFromGrpc } from './errors.js';

export interface GatewayContext {
  clients: MeshClients;
  nats: NatsHandle;
}

export const MAX_PAGE_SIZE = 100;

type Args = Record<string, unknown>;
type Resolver = (parent: unknown, args: Args, ctx: GatewayContext) => unknown;
export type ResolverMap = Record<string, Record<string, Resolver>>;

/** Runs one gRPC call; a failure becomes the GraphQL error of its status. Build the request before calling. */
async function call<T>(target: ServiceTarget<unknown>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw graphQLErrorFromGrpc(err, target.name);
  }
}

function badInput(message: string, argument: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', argument } });
}

function page(args: Args) {
  const first = typeof args.first === 'number' ? args.first : 20;
  if (first < 1 || first > MAX_PAGE_SIZE) throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}`, 'first');
  return { pageSize: first, pageToken: typeof args.after === 'string' ? args.after : '' };
}

/** A proto enum value as its GraphQL enum name; UNSPECIFIED or an unknown number is a contract break. */
function enumName<E extends Record<string, string | number>>(enumObject: E, value: number, what: string): string {
  const name = enumObject[value as unknown as keyof E];
  if (typeof name !== 'string' || name === 'UNSPECIFIED' || name === 'UNRECOGNIZED') {
    throw new GraphQLError(`service returned an unknown ${what} (${value})`, { extensions: { code: 'INTERNAL' } });
  }
  return name;
}

function connection<T extends { id: string }, N>(
  items: T[],
  pageResponse: PageResponse | undefined,
  toNode: (t: T) => N,
) {
  const endCursor = pageResponse?.nextPageToken ?? '';
  return {
    edges: items.map((item) => ({ cursor: item.id, node: toNode(item) })),
    pageInfo: { hasNextPage: endCursor !== '', endCursor: endCursor === '' ? null : endCursor },
  };
}

const datasetNode = (d: Dataset) => ({
  id: d.id,
  name: d.name,
  status: enumName(DatasetStatus, d.status, 'dataset status'),
});
const baseModelNode = (m: BaseModel) => ({ id: m.id, name: m.name, path: m.path, architecture: m.architecture });
const jobNode = (j: FineTuneJob) => ({
  id: j.id,
  name: j.name,
  status: enumName(JobStatus, j.status, 'job status'),
  datasetId: j.datasetId,
  baseModelId: j.baseModelId,
});
const evaluationNode = (e: Evaluation) => ({
  id: e.id,
  status: enumName(EvaluationStatus, e.status, 'evaluation status'),
  datasetId: e.datasetId,
  jobId: e.jobId === '' ? null : e.jobId,
  metrics: e.results.map((r) => ({ name: enumName(Metric, r.metric, 'metric'), value: r.value })),
});

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

export const resolvers: ResolverMap = {
  Query: {
    async health(_parent, _args, { clients, nats }) {
      const targets = [clients.dataset, clients.trainer, clients.evaluator];
      const checks = await Promise.all([
        ...targets.map(async (t) => ({
          name: t.name,
          ...(await checkHealth(t.channel.channel, { component: 'gateway' })),
        })),
        natsHealth(nats).then((h) => ({ name: 'nats', ...h })),
      ]);
      const components = [{ name: 'gateway', status: 'SERVING', latencyMs: 0 }, ...checks];
      return { status: components.every((c) => c.status === 'SERVING') ? 'SERVING' : 'NOT_SERVING', components };
    },

    async datasets(_parent, args, { clients }) {
      const request = { page: page(args) };
      const res = await call(clients.dataset, () => clients.dataset.client.listDatasets(request));
      return connection(res.datasets, res.page, datasetNode);
    },
    async dataset(_parent, args, { clients }) {
      const res = await call(clients.dataset, () => clients.dataset.client.getDataset({ id: String(args.id) }));
      return res.dataset === undefined ? null : datasetNode(res.dataset);
    },

    async baseModels(_parent, args, { clients }) {
      const request = { page: page(args) };
      const res = await call(clients.trainer, () => clients.trainer.client.listBaseModels(request));
      return connection(res.baseModels, res.page, baseModelNode);
    },
    async baseModel(_parent, args, { clients }) {
      const res = await call(clients.trainer, () => clients.trainer.client.getBaseModel({ id: String(args.id) }));
      return res.baseModel === undefined ? null : baseModelNode(res.baseModel);
    },

    async fineTuneJobs(_parent, args, { clients }) {
      const statuses = typeof args.status === 'string' ? [JobStatus[args.status as keyof typeof JobStatus]] : [];
      const request = { page: page(args), statuses };
      const res = await call(clients.trainer, () => clients.trainer.client.listFineTuneJobs(request));
      return connection(res.jobs, res.page, jobNode);
    },
    async fineTuneJob(_parent, args, { clients }) {
      const res = await call(clients.trainer, () => clients.trainer.client.getFineTuneJob({ id: String(args.id) }));
      return res.job === undefined ? null : jobNode(res.job);
    },

    async evaluations(_parent, args, { clients }) {
      const request = {
        page: page(args),
        jobIds: typeof args.jobId === 'string' ? [args.jobId] : [],
        datasetId: typeof args.datasetId === 'string' ? args.datasetId : '',
      };
      const res = await call(clients.evaluator, () => clients.evaluator.client.listEvaluations(request));
      return connection(res.evaluations, res.page, evaluationNode);
    },
    async evaluation(_parent, args, { clients }) {
      const res = await call(clients.evaluator, () => clients.evaluator.client.getEvaluation({ id: String(args.id) }));
      return res.evaluation === undefined ? null : evaluationNode(res.evaluation);
    },
  },
};
