import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigOf, envVar, grpcAddressVar, loadConfig, serviceConfigSpec } from '@tunemesh/kit';
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
  storeDir: envVar('DATASET_STORE_DIR', z.string().min(1), 'a directory path', join(tmpdir(), 'tunemesh-dataset')),
  databaseUrl: envVar(
    'DATASET_DATABASE_URL',
    z.string().regex(/^(postgres(ql)?:\/\/.*|sqlite)$/),
    'a postgres:// URL, or "sqlite" for the embedded database',
    'sqlite',
  ),
  // Empty defaults are written ' ' because loadConfig treats '' as unset; the parsers trim them away.
  /** A PostgreSQL schema to keep the tables in (created when missing); empty: the server's default. */
  databaseSchema: envVar(
    'DATASET_DATABASE_SCHEMA',
    z
      .string()
      .transform((s) => s.trim())
      .pipe(z.string().regex(/^([a-z_][a-z0-9_]*)?$/)),
    'a lowercase schema name',
    ' ',
  ),
  dataRoots: envVar('DATASET_DATA_ROOTS', pathList, 'comma-separated directories that imports by path may read', ' '),
  modelRoots: envVar(
    'DATASET_MODEL_ROOTS',
    pathList,
    'comma-separated directories that tokenizer model paths may name',
    ' ',
  ),
  /** The trainer service, asked for a base model's directory when an import names tokenizer.base_model_id. */
  trainerAddr: grpcAddressVar('DATASET_TRAINER_ADDR', '127.0.0.1:50052'),
  maxUploadBytes: envVar(
    'DATASET_MAX_UPLOAD_BYTES',
    z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().positive()),
    'a positive number of bytes',
    String(2 * 1024 ** 3),
  ),
};
export type DatasetConfig = ConfigOf<typeof datasetConfigSpec>;

export function loadDatasetConfig(env: NodeJS.ProcessEnv = process.env): DatasetConfig {
  return loadConfig(datasetConfigSpec, env);
}
