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

/** Environment variables of a trainer node process. */
export const nodeConfigSpec = {
  natsUrl: natsUrlVar(),
  logLevel: logLevelVar(),
  datasetAddr: grpcAddressVar('DATASET_ADDR', '127.0.0.1:50051'),
  storeDir: envVar('TRAINER_STORE_DIR', z.string().min(1), 'a directory path', join(tmpdir(), 'tunemesh-trainer')),
  nodeId: envVar(
    'TRAINER_NODE_ID',
    z
      .string()
      .transform((s) => s.trim())
      .pipe(z.string().regex(/^[\w-]*$/)),
    'letters, digits, "_" or "-"',
    ' ',
  ),
  device: envVar('TRAINER_NODE_DEVICE', z.enum(['cpu', 'cuda']), 'cpu or cuda', 'cpu'),
  /** How often a running job's work message is marked in progress; keep it well under TRAINER_WORK_ACK_WAIT_MS. */
  workingMs: durationMsVar('TRAINER_NODE_WORKING_MS', 15_000),
  heartbeatMs: durationMsVar('TRAINER_NODE_HEARTBEAT_MS', 5_000),
  /** onnxruntime intra-op threads; 0: onnxruntime's default. */
  /** Jobs this node trains at the same time. */
  capacity: envVar(
    'TRAINER_NODE_CAPACITY',
    z
      .string()
      .regex(/^[1-9]\d*$/)
      .transform(Number),
    'a whole number ≥ 1',
    '1',
  ),
  threads: envVar('TRAINER_NODE_THREADS', z.string().regex(/^\d+$/).transform(Number), 'a whole number', '0'),
};
export type NodeConfig = ConfigOf<typeof nodeConfigSpec>;

export function loadNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(nodeConfigSpec, env);
}
