import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigOf, databaseConfigSpec, envVar, loadConfig, serviceConfigSpec } from '@tunemesh/kit';
import { z } from 'zod';

const pathList = z.string().transform((s) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== ''),
);

/**
 * Environment variables of the evaluator service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...).
 * Each one's description is the configuration reference's text (scripts/config-reference.ts).
 */
export const evaluatorConfigSpec = {
  ...serviceConfigSpec(50053),
  storeDir: envVar(
    'EVALUATOR_STORE_DIR',
    'Where the service writes its artefacts (combined adapters, merged and exported models) and the SQLite file unless EVALUATOR_DATABASE_URL names PostgreSQL.',
    z.string().min(1),
    'a directory path',
    join(tmpdir(), 'tunemesh-evaluator'),
  ),
  ...databaseConfigSpec('EVALUATOR', '(evaluations, artefacts)'),
  // Empty defaults are written ' ' because loadConfig treats '' as unset; the parsers trim them away.
  modelRoots: envVar(
    'EVALUATOR_MODEL_ROOTS',
    'The only directories a base model may lie in: a base_model_id is the trainer’s id of a model there or its path inside a root. Empty refuses every base model.',
    pathList,
    'comma-separated directories holding base models',
    ' ',
  ),
  adapterRoot: envVar(
    'EVALUATOR_ADAPTER_ROOT',
    'Where a job_id or checkpoint_id is looked up: <root>/<job id>, or the trainer’s layout <root>/jobs/<job id>/adapter and …/checkpoints/checkpoint-<step>, so the trainer’s artefacts folder (TRAINER_STORE_DIR/artefacts) can be given as it is. Empty refuses job and checkpoint references.',
    z.string().transform((s) => s.trim()),
    'a directory holding one adapter directory per job id',
    ' ',
  ),
  datasetAddress: envVar(
    'EVALUATOR_DATASET_ADDR',
    'The dataset service’s gRPC address, from which evaluations read a split’s examples, tokenised with the base model’s tokenizer.',
    z.string().min(1),
    'host:port of the dataset service',
    '127.0.0.1:50051',
  ),
  trainerAddress: envVar(
    'EVALUATOR_TRAINER_ADDR',
    'The trainer service’s gRPC address, which names base models ("bm-…") and knows the base of a full fine-tuning job; empty: base models are named by path only and full fine-tuning jobs cannot be resolved by id.',
    z.string().transform((s) => s.trim()),
    'host:port of the trainer service, or empty',
    '127.0.0.1:50052',
  ),
};
export type EvaluatorConfig = ConfigOf<typeof evaluatorConfigSpec>;

export function loadEvaluatorConfig(env: NodeJS.ProcessEnv = process.env): EvaluatorConfig {
  return loadConfig(evaluatorConfigSpec, env);
}
