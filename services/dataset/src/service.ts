// The dataset service: owns datasets (import, validation, split, templating, tokenisation, streaming to
// trainers). Connects to NATS for its events, opens its metadata database (migrating it) and artefact store.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { declareStreams, type Logger, type MeshServiceHandle, startMeshService } from '@tunemesh/kit';
import { DatasetServiceDefinition, STREAMS } from '@tunemesh/proto';
import { trainerBaseModels } from './base-models.js';
import type { DatasetConfig } from './config.js';
import { publishDatasetFinished } from './events.js';
import { datasetHandlers } from './handlers.js';
import { Importer } from './import/importer.js';
import { ArtefactStore } from './store/artefacts.js';
import { type DatabaseConfig, openDatabase } from './store/db.js';
import { DatasetRecords } from './store/records.js';

export { DATASET_PLANNED_IN } from './handlers.js';

function databaseConfig(config: DatasetConfig): DatabaseConfig {
  if (config.databaseUrl === 'sqlite') return { kind: 'sqlite', path: join(config.storeDir, 'datasets.sqlite') };
  return {
    kind: 'postgres',
    url: config.databaseUrl,
    ...(config.databaseSchema !== '' && { schema: config.databaseSchema }),
  };
}

export async function start(config: DatasetConfig, options: { logger?: Logger } = {}): Promise<MeshServiceHandle> {
  await mkdir(config.storeDir, { recursive: true });
  const db = await openDatabase(databaseConfig(config));
  const records = new DatasetRecords(db);
  const artefacts = new ArtefactStore(join(config.storeDir, 'artefacts'));
  try {
    await artefacts.init();
    // Imports cut off by a previous stop or crash can never finish; say so on their records.
    await records.failInterrupted(new Date());
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const baseModels = trainerBaseModels(config.trainerAddr, config.modelRoots);
  let publish: ((r: import('./store/records.js').DatasetRecord) => Promise<void>) | undefined;
  const importer = new Importer({
    records,
    artefacts,
    onFinished: async (record) => {
      try {
        await publish?.(record);
      } catch (err) {
        // The dataset is stored either way; a lost event is logged, not turned into a failed import.
        options.logger?.warn({ err, datasetId: record.id }, 'could not publish the dataset event');
      }
    },
  });
  let handle: MeshServiceHandle;
  try {
    handle = await startMeshService({
      name: 'dataset',
      config,
      ...options,
      serviceNames: [DatasetServiceDefinition.fullName],
      declareStreams: (jsm) => declareStreams(jsm, [STREAMS.datasetEvents]),
      register: (server, nats) => {
        const js = nats.nc.jetstream();
        publish = (record) => publishDatasetFinished(js, record);
        server.add(
          DatasetServiceDefinition,
          datasetHandlers({
            records,
            artefacts,
            importer,
            dataRoots: config.dataRoots,
            modelRoots: config.modelRoots,
            baseModelDir: baseModels.dir,
            maxUploadBytes: config.maxUploadBytes,
          }),
        );
      },
    });
  } catch (err) {
    baseModels.close();
    await db.destroy();
    throw err;
  }
  return {
    ...handle,
    async stop() {
      await handle.stop();
      baseModels.close();
      await db.destroy();
    },
  };
}
