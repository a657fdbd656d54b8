// The TrainerService RPCs: proto in, domain calls, proto out. Errors are the kit's domain errors, mapped to
// gRPC status by the kit's one table.

import { InvalidArgumentError, NotFoundError, type ServiceClient, type ServiceImplementation } from '@tunemesh/kit';
import type { DatasetServiceDefinition, TrainerServiceDefinition } from '@tunemesh/proto';
import type { JetStreamClient, JetStreamManager } from 'nats';
import { createJob } from './jobs/create.js';
import { jobEvents } from './jobs/progress.js';
import { cancelJob, enqueue } from './jobs/queue.js';
import type { BaseModels } from './models.js';
import type { NodeRegistry } from './nodes.js';
import { decodeToken, encodeToken, MAX_PAGE, pageSize } from './paging.js';
import type { JobRecords } from './store/jobs.js';

export interface HandlerDeps {
  models: BaseModels;
  jobs: JobRecords;
  nodes: NodeRegistry;
  datasets: ServiceClient<typeof DatasetServiceDefinition>;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export function trainerHandlers(deps: HandlerDeps): ServiceImplementation<typeof TrainerServiceDefinition> {
  const { models, jobs } = deps;
  const queue = { js: deps.js, jsm: deps.jsm, jobs };
  return {
    async registerBaseModel(req) {
      const r = await models.register(req.name, req.path);
      return { baseModel: r.model, alreadyExisted: r.existed };
    },

    async getBaseModel(req) {
      const m = await models.get(req.id);
      if (m === undefined) throw new NotFoundError(`base model ${JSON.stringify(req.id)} does not exist`);
      return { baseModel: m };
    },

    async listBaseModels(req) {
      const filters = [req.architecture, req.ids];
      const size = pageSize(req.page?.pageSize);
      const offset = decodeToken(req.page?.pageToken, filters) ?? 0;
      const page = await models.list({ architecture: req.architecture, ids: req.ids, offset, limit: size + 1 });
      const more = page.length > size;
      return {
        baseModels: page.slice(0, size),
        page: { nextPageToken: more ? encodeToken(offset + size, filters) : '' },
      };
    },

    async createFineTuneJob(req) {
      const r = await createJob(
        { models, jobs, datasets: deps.datasets, enqueue: (job, model) => enqueue(queue, job, model) },
        req,
      );
      return { job: r.job, alreadyExisted: r.alreadyExisted };
    },

    async getFineTuneJob(req) {
      const job = await jobs.get(req.id);
      if (job === undefined) throw new NotFoundError(`job ${JSON.stringify(req.id)} does not exist`);
      return { job };
    },

    async listFineTuneJobs(req) {
      const filter = {
        statuses: req.statuses,
        baseModelId: req.baseModelId,
        datasetId: req.datasetId,
        method: req.method,
        ids: req.ids,
      };
      const size = pageSize(req.page?.pageSize);
      const before = decodeToken(req.page?.pageToken, filter);
      const page = await jobs.list(filter, before, size + 1);
      const more = page.length > size;
      const shown = page.slice(0, size);
      const last = shown.at(-1);
      return {
        jobs: shown.map((p) => p.job),
        page: { nextPageToken: more && last !== undefined ? encodeToken(last.seq, filter) : '' },
      };
    },

    async cancelFineTuneJob(req) {
      return { job: await cancelJob(queue, req.id, req.reason) };
    },

    async *streamJobProgress(req, context) {
      if ((await jobs.get(req.jobId)) === undefined)
        throw new NotFoundError(`job ${JSON.stringify(req.jobId)} does not exist`);
      for await (const event of jobEvents(
        deps.js,
        deps.jsm,
        req.jobId,
        req.sinceSequence,
        req.historyOnly,
        context.signal,
      ))
        yield { event };
    },

    async listCheckpoints(req) {
      // job_ids: the checkpoints of several jobs in one call (the gateway's batched job.checkpoints link).
      const many = req.jobIds.length > 0;
      if (many && req.jobId !== '')
        throw new InvalidArgumentError('set job_id or job_ids, not both', { field: 'job_ids' });
      if (req.jobIds.length > MAX_PAGE)
        throw new InvalidArgumentError(`job_ids holds at most ${MAX_PAGE} ids, got ${req.jobIds.length}`, {
          field: 'job_ids',
        });
      if (!many && (await jobs.get(req.jobId)) === undefined)
        throw new NotFoundError(`job ${JSON.stringify(req.jobId)} does not exist`);
      const ids = many ? [...new Set(req.jobIds)] : [req.jobId];
      const filters = ids;
      const size = pageSize(req.page?.pageSize);
      const offset = decodeToken(req.page?.pageToken, filters) ?? 0;
      const page = await jobs.checkpoints(ids, offset, size + 1);
      return {
        checkpoints: page.slice(0, size),
        page: { nextPageToken: page.length > size ? encodeToken(offset + size, filters) : '' },
      };
    },

    async listTrainerNodes(req) {
      return { nodes: deps.nodes.live(req.device) };
    },
  };
}
