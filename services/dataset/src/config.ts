import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ConfigOf,
  databaseConfigSpec,
  envVar,
  grpcAddressVar,
  loadConfig,
  serviceConfigSpec,
} from '@tunemesh/kit';
import { z } from 'zod';

const pathList = z.string().transform((s) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== ''),
);

/**
 * Environment variables of the dataset service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...).
 * DATASET_STORE_DIR holds the artefacts (and the SQLite file unless DATASET_DATABASE_URL names PostgreSQL).
 */
export const datasetConfigSpec = {
  ...serviceConfigSpec(50051),
  storeDir: envVar(
    'DATASET_STORE_DIR',
    'Where the service keeps each dataset’s files (the source as imported, its normalised examples and its split) and the SQLite file unless DATASET_DATABASE_URL names PostgreSQL.',
    z.string().min(1),
    'a directory path',
    join(tmpdir(), 'tunemesh-dataset'),
  ),
  ...databaseConfigSpec('DATASET'),
  // Empty defaults are written ' ' because loadConfig treats '' as unset; the parsers trim them away.
  dataRoots: envVar(
    'DATASET_DATA_ROOTS',
    'The only directories an import by path (importDatasetFromPath) may read; a relative path is taken inside the first. Empty refuses every import by path (uploads still work).',
    pathList,
    'comma-separated directories that imports by path may read',
    ' ',
  ),
  modelRoots: envVar(
    'DATASET_MODEL_ROOTS',
    'The only directories a tokenizer’s model path may name (the model whose tokenizer.json tokenises the rows); empty refuses every model path.',
    pathList,
    'comma-separated directories that tokenizer model paths may name',
    ' ',
  ),
  trainerAddr: grpcAddressVar(
    'DATASET_TRAINER_ADDR',
    '127.0.0.1:50052',
    'The trainer service’s gRPC address, asked for a base model’s directory when an import names its tokenizer by base model id (tokenizer.base_model_id) instead of a path.',
  ),
  maxUploadBytes: envVar(
    'DATASET_MAX_UPLOAD_BYTES',
    'The largest dataset file the service accepts, uploaded or copied from a data root, in bytes (2 GiB by default).',
    z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().positive()),
    'a positive number of bytes',
    String(2 * 1024 ** 3),
  ),
};
export type DatasetConfig = ConfigOf<typeof datasetConfigSpec>;

export function loadDatasetConfig(env: NodeJS.ProcessEnv = process.env): DatasetConfig {
  return loadConfig(datasetConfigSpec, env);
}
