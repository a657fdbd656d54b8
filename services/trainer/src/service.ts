// The trainer service: base models, fine-tuning jobs and their work queue, progress and checkpoints, and the
// list of live trainer nodes. It records jobs and queues them; trainer nodes (node.ts, separate processes) pull
// and train them, and their events flow back into the records through the projection consumer.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createServiceClient,
  declareStreams,
  ensureConsumer,
  type Logger,
  type MeshServiceHandle,
  openChannel,
  silentLogger,
  startMeshService,
  workQueueConsumer,
} from '@tunemesh/kit';
import { DatasetServiceDefinition, STREAMS, TrainerServiceDefinition } from '@tunemesh/proto';
import type { TrainerConfig } from './config.js';
import { trainerHandlers } from './handlers.js';
import { declareProjectionConsumer, runProjection } from './jobs/projection.js';
import { requeueValidating } from './jobs/queue.js';
import { jobArtefacts } from './layout.js';
import { BaseModels } from './models.js';
import { NodeRegistry } from './nodes.js';
import { TRAINER_NODES_CONSUMER } from './queue-names.js';
import { openTrainerDb } from './store/db.js';
import { JobRecords } from './store/jobs.js';

export const TRAINER_PLANNED_IN = 'issue 7 (trainer service)';

export { TRAINER_NODES_CONSUMER };

/** Folder of the artefact store inside TRAINER_STORE_DIR. */
export const artefactRoot = (storeDir: string): string => join(storeDir, 'artefacts');

export async function start(config: TrainerConfig, options: { logger?: Logger } = {}): Promise<MeshServiceHandle> {
  const logger = options.logger ?? silentLogger();
  await mkdir(artefactRoot(config.storeDir), { recursive: true });
  const sqlite = config.databaseUrl === 'sqlite';
  const db = await openTrainerDb(
    sqlite
      ? { kind: 'sqlite', path: join(config.storeDir, 'trainer.sqlite') }
      : {
          kind: 'postgres',
          url: config.databaseUrl,
          ...(config.databaseSchema !== '' && { schema: config.databaseSchema }),
        },
  );
  const models = new BaseModels(db, config.modelRoots);
  const jobs = new JobRecords(db, !sqlite);
  const nodes = new NodeRegistry();
  const channel = openChannel(config.datasetAddr);
  const datasets = createServiceClient(DatasetServiceDefinition, channel.channel, { component: 'trainer' });
  const stopProjection = new AbortController();
  let projection: Promise<void> | undefined;
  let handle: MeshServiceHandle;
  try {
    handle = await startMeshService({
      name: 'trainer',
      config,
      ...options,
      serviceNames: [TrainerServiceDefinition.fullName],
      declareStreams: async (jsm) => {
        await declareStreams(jsm, [STREAMS.jobEvents, STREAMS.trainWork, STREAMS.trainerControl]);
        await ensureConsumer(
          jsm,
          STREAMS.trainWork.name,
          workQueueConsumer(TRAINER_NODES_CONSUMER, Math.max(1, Math.round(config.workAckWaitMs / 1000))),
        );
        await declareProjectionConsumer(jsm);
      },
      register: (server, nats) => {
        const js = nats.nc.jetstream();
        nodes.start(nats.nc);
        projection = runProjection(
          js,
          jobs,
          (id) => jobArtefacts(artefactRoot(config.storeDir), id).lossChart,
          logger,
          stopProjection.signal,
        ).catch((err: unknown) => logger.error({ err }, 'job event projection stopped'));
        server.add(TrainerServiceDefinition, trainerHandlers({ models, jobs, nodes, datasets, js, jsm: nats.jsm }));
      },
    });
  } catch (err) {
    channel.close();
    await db.destroy();
    throw err;
  }
  try {
    const requeued = await requeueValidating({ js: handle.nats.nc.jetstream(), jsm: handle.nats.jsm, jobs }, (id) =>
      models.get(id),
    );
    if (requeued > 0) logger.info({ requeued }, 'queued jobs that a previous run recorded but had not queued');
  } catch (err) {
    logger.warn({ err }, 'could not re-queue jobs left VALIDATING');
  }
  return {
    ...handle,
    async stop() {
      stopProjection.abort();
      nodes.stop();
      await handle.stop();
      await projection;
      channel.close();
      await db.destroy();
    },
  };
}
