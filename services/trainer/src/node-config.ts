import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigOf, envVar, grpcAddressVar, loadConfig, logLevelVar, natsUrlVar } from '@tunemesh/kit';
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
};
export type NodeConfig = ConfigOf<typeof nodeConfigSpec>;

export function loadNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(nodeConfigSpec, env);
}
