import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ConfigOf,
  durationMsVar,
  envVar,
  grpcAddressVar,
  loadConfig,
  logLevelVar,
  natsUrlVar,
} from '@tunemesh/kit';
import { z } from 'zod';

/** Environment variables of a trainer node process; each one's description is the configuration reference's text. */
export const nodeConfigSpec = {
  natsUrl: natsUrlVar(),
  logLevel: logLevelVar(),
  datasetAddr: grpcAddressVar(
    'DATASET_ADDR',
    '127.0.0.1:50051',
    'The dataset service’s gRPC address, from which the node streams a job’s tokenised training and validation rows.',
  ),
  storeDir: envVar(
    'TRAINER_STORE_DIR',
    'The trainer service’s store directory (the same folder, mounted on every node): the node writes checkpoints, the final adapter or model and the loss chart under its artefacts/ folder.',
    z.string().min(1),
    'a directory path',
    join(tmpdir(), 'tunemesh-trainer'),
  ),
  nodeId: envVar(
    'TRAINER_NODE_ID',
    'The node’s id in heartbeats, job events and ListTrainerNodes; empty uses <hostname>-<process id>.',
    z
      .string()
      .transform((s) => s.trim())
      .pipe(z.string().regex(/^[\w-]*$/)),
    'letters, digits, "_" or "-"',
    ' ',
  ),
  device: envVar(
    'TRAINER_NODE_DEVICE',
    'The device the node advertises; it takes only jobs that ask for this device or for none.',
    z.enum(['cpu', 'cuda']),
    'cpu or cuda',
    'cpu',
  ),
  workingMs: durationMsVar(
    'TRAINER_NODE_WORKING_MS',
    15_000,
    'How often a running job’s work message is marked in progress, so the queue does not give it to another node; keep it well under TRAINER_WORK_ACK_WAIT_MS.',
  ),
  heartbeatMs: durationMsVar(
    'TRAINER_NODE_HEARTBEAT_MS',
    5_000,
    'How often the node publishes its heartbeat on NATS, by which the trainer service knows it is alive (ListTrainerNodes).',
  ),
  capacity: envVar(
    'TRAINER_NODE_CAPACITY',
    'How many jobs the node trains at the same time.',
    z
      .string()
      .regex(/^[1-9]\d*$/)
      .transform(Number),
    'a whole number ≥ 1',
    '1',
  ),
  threads: envVar(
    'TRAINER_NODE_THREADS',
    'onnxruntime intra-op threads per training session; 0 leaves onnxruntime’s default.',
    z.string().regex(/^\d+$/).transform(Number),
    'a whole number',
    '0',
  ),
};
export type NodeConfig = ConfigOf<typeof nodeConfigSpec>;

export function loadNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(nodeConfigSpec, env);
}
