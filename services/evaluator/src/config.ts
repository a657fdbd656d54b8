import { type ConfigOf, loadConfig, serviceConfigSpec } from '@tunemesh/kit';

/** Environment variables of the evaluator service; see serviceConfigSpec for the shared ones (PORT, NATS_URL, ...). */
export const evaluatorConfigSpec = serviceConfigSpec(50053);
export type EvaluatorConfig = ConfigOf<typeof evaluatorConfigSpec>;

export function loadEvaluatorConfig(env: NodeJS.ProcessEnv = process.env): EvaluatorConfig {
  return loadConfig(evaluatorConfigSpec, env);
}
