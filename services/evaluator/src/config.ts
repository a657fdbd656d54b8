import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigOf, envVar, loadConfig, serviceConfigSpec } from '@tunemesh/kit';
import { z } from 'zod';

const pathList = z.string().transform((s) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== ''),
);

/**
 * Environment variables of the evaluator service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...).
 * EVALUATOR_STORE_DIR holds the artefacts and the SQLite file (unless EVALUATOR_DATABASE_URL names PostgreSQL). A base_model_id names a model directory inside
 * EVALUATOR_MODEL_ROOTS; a job_id names `<EVALUATOR_ADAPTER_ROOT>/<job_id>` or, in the trainer's artefact
 * layout, `<EVALUATOR_ADAPTER_ROOT>/jobs/<job_id>/adapter`: a PEFT adapter directory (the job's final adapter), whose base_model_name_or_path names its base inside the model roots.
 */
export const evaluatorConfigSpec = {
  ...serviceConfigSpec(50053),
  storeDir: envVar('EVALUATOR_STORE_DIR', z.string().min(1), 'a directory path', join(tmpdir(), 'tunemesh-evaluator')),
  // Empty defaults are written ' ' because loadConfig treats '' as unset; the parsers trim them away.
  databaseUrl: envVar(
    'EVALUATOR_DATABASE_URL',
    z.string().regex(/^(postgres(ql)?:\/\/.*|sqlite)$/),
    'a postgres:// URL, or "sqlite" for the embedded database',
    'sqlite',
  ),
  databaseSchema: envVar(
    'EVALUATOR_DATABASE_SCHEMA',
    z
      .string()
      .transform((s) => s.trim())
      .pipe(z.string().regex(/^([a-z_][a-z0-9_]*)?$/)),
    'a lowercase schema name',
    ' ',
  ),
  modelRoots: envVar('EVALUATOR_MODEL_ROOTS', pathList, 'comma-separated directories holding base models', ' '),
  adapterRoot: envVar(
    'EVALUATOR_ADAPTER_ROOT',
    z.string().transform((s) => s.trim()),
    'a directory holding one adapter directory per job id',
    ' ',
  ),
  datasetAddress: envVar(
    'EVALUATOR_DATASET_ADDR',
    z.string().min(1),
    'host:port of the dataset service',
    '127.0.0.1:50051',
  ),
  /** The trainer service, which names base models ("bm-…"); empty: base models are named by path only. */
  trainerAddress: envVar(
    'EVALUATOR_TRAINER_ADDR',
    z.string().transform((s) => s.trim()),
    'host:port of the trainer service, or empty',
    '127.0.0.1:50052',
  ),
};
export type EvaluatorConfig = ConfigOf<typeof evaluatorConfigSpec>;

export function loadEvaluatorConfig(env: NodeJS.ProcessEnv = process.env): EvaluatorConfig {
  return loadConfig(evaluatorConfigSpec, env);
}
