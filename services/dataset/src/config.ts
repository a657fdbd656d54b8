import { type ConfigOf, loadConfig, serviceConfigSpec } from '@tunemesh/kit';

/** Environment variables of the dataset service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...). */
export const datasetConfigSpec = serviceConfigSpec(50051);
export type DatasetConfig = ConfigOf<typeof datasetConfigSpec>;

export function loadDatasetConfig(env: NodeJS.ProcessEnv = process.env): DatasetConfig {
  return loadConfig(datasetConfigSpec, env);
}
