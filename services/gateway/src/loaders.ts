// Per-request DataLoaders for links across services (a job's dataset, an evaluation's job, ...): every id asked
// for during one tick of resolution becomes one List RPC with an `ids` filter, so a page of N jobs costs one
// dataset call, not N.
import type { BaseModel, Checkpoint, Dataset, Evaluation, FineTuneJob } from '@tunemesh/proto';
import DataLoader from 'dataloader';
import type { MeshClients } from './clients.js';
import { call } from './grpc-call.js';

export interface Loaders {
  dataset: DataLoader<string, Dataset | null>;
  baseModel: DataLoader<string, BaseModel | null>;
  job: DataLoader<string, FineTuneJob | null>;
  /** Evaluations of a job (all of them: the services clamp a page at 500). */
  evaluationsByJob: DataLoader<string, Evaluation[]>;
  /** Checkpoints of a job, newest first (ListCheckpoints with job_ids: one call for a page of jobs). */
  checkpointsByJob: DataLoader<string, Checkpoint[]>;
}

// The services' maximum page size (PageRequest in common.proto): a batch larger than this is split.
const SERVICE_MAX_PAGE = 500;

/** Answers in key order; an id the service does not return resolves to null (deleted since, or never existed). */
function byId<T extends { id: string }>(ids: readonly string[], items: readonly T[]): (T | null)[] {
  const found = new Map(items.map((item) => [item.id, item]));
  return ids.map((id) => found.get(id) ?? null);
}

export function createLoaders(clients: MeshClients): Loaders {
  const options = { maxBatchSize: SERVICE_MAX_PAGE };
  return {
    dataset: new DataLoader(async (ids) => {
      const request = { ids: [...ids], page: { pageSize: ids.length, pageToken: '' } };
      const res = await call(clients.dataset, (o) => clients.dataset.client.listDatasets(request, o));
      return byId(ids, res.datasets);
    }, options),
    baseModel: new DataLoader(async (ids) => {
      const request = { ids: [...ids], page: { pageSize: ids.length, pageToken: '' } };
      const res = await call(clients.trainer, (o) => clients.trainer.client.listBaseModels(request, o));
      return byId(ids, res.baseModels);
    }, options),
    job: new DataLoader(async (ids) => {
      const request = { ids: [...ids], page: { pageSize: ids.length, pageToken: '' } };
      const res = await call(clients.trainer, (o) => clients.trainer.client.listFineTuneJobs(request, o));
      return byId(ids, res.jobs);
    }, options),
    evaluationsByJob: new DataLoader(
      async (jobIds) => {
        const evaluations: Evaluation[] = [];
        let pageToken = '';
        do {
          const request = { jobIds: [...jobIds], page: { pageSize: SERVICE_MAX_PAGE, pageToken } };
          const res = await call(clients.evaluator, (o) => clients.evaluator.client.listEvaluations(request, o));
          evaluations.push(...res.evaluations);
          pageToken = res.page?.nextPageToken ?? '';
        } while (pageToken !== '');
        return jobIds.map((id) => evaluations.filter((e) => e.jobId === id));
      },
      { maxBatchSize: 100 },
    ),
    checkpointsByJob: new DataLoader(async (jobIds) => {
      const checkpoints: Checkpoint[] = [];
      let pageToken = '';
      do {
        const request = { jobId: '', jobIds: [...jobIds], page: { pageSize: SERVICE_MAX_PAGE, pageToken } };
        const res = await call(clients.trainer, (o) => clients.trainer.client.listCheckpoints(request, o));
        checkpoints.push(...res.checkpoints);
        pageToken = res.page?.nextPageToken ?? '';
      } while (pageToken !== '');
      return jobIds.map((id) => checkpoints.filter((c) => c.jobId === id));
    }, options),
  };
}
