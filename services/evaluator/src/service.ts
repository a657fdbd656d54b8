// The evaluator service: evaluations as jobs (EvaluateAdapter, GetEvaluation, ListEvaluations,
// CancelEvaluation), the leaderboard, CompareAdapters, MergeAdapter, CombineAdapters (linear/cat/svd),
// ExportModel, Generate, StreamGenerate and the artefact RPCs, stored in its own SQLite tables, with eval.<id>.* events on
// NATS and automatic evaluation after job.completed. Every RPC of the proto is served.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createLogger,
  createServiceClient,
  declareStreams,
  declareWorkQueueConsumer,
  type Logger,
  type MeshServiceHandle,
  openChannel,
  startMeshService,
  unimplementedService,
} from '@tunemesh/kit';
import { DatasetServiceDefinition, EvaluatorServiceDefinition, STREAMS } from '@tunemesh/proto';
import { declareAutoEvalConsumer, runAutoEvaluation } from './auto.js';
import { trainerRegistry } from './base-models.js';
import type { EvaluatorConfig } from './config.js';
import { evaluationHandlers } from './handlers.js';
import { EvaluationJobs } from './jobs.js';
import { ArtifactRecords } from './store/artifacts.js';
import { openEvaluatorDb } from './store/db.js';
import { EvaluationRecords } from './store/evaluations.js';

export const EVALUATOR_PLANNED_IN = 'issue 8 (evaluator service)';

/** The durable pull consumer the evaluator's workers share on the evaluation work queue. */
export const EVALUATOR_WORKERS_CONSUMER = 'evaluator-workers';

export async function start(config: EvaluatorConfig, options: { logger?: Logger } = {}): Promise<MeshServiceHandle> {
  const logger = options.logger ?? createLogger('evaluator', config.logLevel);
  await mkdir(config.storeDir, { recursive: true });
  const db = await openEvaluatorDb(
    config.databaseUrl === 'sqlite'
      ? { kind: 'sqlite', path: join(config.storeDir, 'evaluator.sqlite') }
      : {
          kind: 'postgres',
          url: config.databaseUrl,
          ...(config.databaseSchema !== '' && { schema: config.databaseSchema }),
        },
  );
  const records = new EvaluationRecords(db);
  const artifacts = new ArtifactRecords(db);
  const channel = openChannel(config.datasetAddress);
  const registry = config.trainerAddress === '' ? undefined : trainerRegistry(config.trainerAddress);
  const datasets = createServiceClient(DatasetServiceDefinition, channel.channel, { component: 'evaluator' });
  let jobs: EvaluationJobs | undefined;
  const stopAuto = new AbortController();
  let auto: Promise<void> | undefined;
  let handle: MeshServiceHandle;
  try {
    handle = await startMeshService({
      name: 'evaluator',
      config,
      logger,
      serviceNames: [EvaluatorServiceDefinition.fullName],
      declareStreams: async (jsm) => {
        await declareStreams(jsm, [STREAMS.evaluationEvents, STREAMS.evalWork]);
        await declareWorkQueueConsumer(jsm, STREAMS.evalWork.name, EVALUATOR_WORKERS_CONSUMER);
        // job.completed lives on the trainer's stream; declaring it here too (idempotent) lets the evaluator
        // start first.
        await declareStreams(jsm, [STREAMS.jobEvents]);
        await declareAutoEvalConsumer(jsm);
      },
      register: (server, nats) => {
        jobs = new EvaluationJobs({
          records,
          datasets,
          js: nats.nc.jetstream(),
          logger,
        });
        const deps = {
          records,
          artifacts,
          storeDir: config.storeDir,
          jobs,
          datasets,
          paths: {
            modelRoots: config.modelRoots,
            adapterRoot: config.adapterRoot,
            ...(registry !== undefined && { registry }),
            artifact: (id: string) => artifacts.get(id),
          },
        };
        const handlers = evaluationHandlers(deps);
        auto = runAutoEvaluation(deps, nats, logger, stopAuto.signal).catch((err: unknown) =>
          logger.error({ err }, 'automatic evaluation stopped'),
        );
        server.add(
          EvaluatorServiceDefinition,
          unimplementedService(EvaluatorServiceDefinition, EVALUATOR_PLANNED_IN, handlers),
        );
      },
    });
  } catch (err) {
    channel.close();
    registry?.close();
    await db.destroy();
    throw err;
  }
  return {
    ...handle,
    async stop() {
      stopAuto.abort();
      await auto;
      await jobs?.close();
      await handle.stop();
      channel.close();
      registry?.close();
      await db.destroy();
    },
  };
}
