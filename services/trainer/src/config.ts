import { type ConfigOf, loadConfig, serviceConfigSpec } from '@tunemesh/kit';

/** Environment variables of the trainer service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...). */
export const trainerConfigSpec = serviceConfigSpec(50052);
export type TrainerConfig = ConfigOf<typeof trainerConfigSpec>;

export function loadTrainerConfig(env: NodeJS.ProcessEnv = process.env): TrainerConfig {
  return loadConfig(trainerConfigSpec, env);
}
