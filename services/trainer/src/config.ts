import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ConfigOf,
  databaseConfigSpec,
  durationMsVar,
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
 * Environment variables of the trainer service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...).
 * TRAINER_STORE_DIR holds the artefact store (checkpoints, adapters, charts), which trainer nodes on this machine
 * share (nodes on other machines mount the same folder), and the SQLite file unless TRAINER_DATABASE_URL names
 * PostgreSQL.
 */
export const trainerConfigSpec = {
  ...serviceConfigSpec(50052),
  storeDir: envVar(
    'TRAINER_STORE_DIR',
    'The artefact store (artefacts/jobs/<job id>/: checkpoints, the final adapter or model, the loss chart), shared with the trainer nodes, and the SQLite file unless TRAINER_DATABASE_URL names PostgreSQL.',
    z.string().min(1),
    'a directory path',
    join(tmpdir(), 'tunemesh-trainer'),
  ),
  ...databaseConfigSpec('TRAINER', '(base models, jobs)'),
  // Empty default written ' ' because loadConfig treats '' as unset; the parser trims it away.
  modelRoots: envVar(
    'TRAINER_MODEL_ROOTS',
    'The only directories a registered base model’s path may lie in (RegisterBaseModel); empty refuses every registration.',
    pathList,
    'comma-separated directories that base model paths may name',
    ' ',
  ),
  datasetAddr: grpcAddressVar(
    'DATASET_ADDR',
    '127.0.0.1:50051',
    'The dataset service’s gRPC address, asked whether a job’s dataset exists and is ready when the job is created.',
  ),
  workAckWaitMs: durationMsVar(
    'TRAINER_WORK_ACK_WAIT_MS',
    60_000,
    'How long the work queue waits for a node’s acknowledgement or working signal before it gives the job to another node: how soon a job resumes after its node died. Keep it well above TRAINER_NODE_WORKING_MS.',
  ),
};
export type TrainerConfig = ConfigOf<typeof trainerConfigSpec>;

export function loadTrainerConfig(env: NodeJS.ProcessEnv = process.env): TrainerConfig {
  return loadConfig(trainerConfigSpec, env);
}
