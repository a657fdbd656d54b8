import {
  booleanVar,
  type ConfigOf,
  durationMsVar,
  grpcAddressVar,
  hostVar,
  loadConfig,
  logLevelVar,
  natsUrlVar,
  portVar,
  tracesExporterVar,
} from '@tunemesh/kit';

/** Environment variables of the gateway. */
export const gatewayConfigSpec = {
  host: hostVar(),
  port: portVar('PORT', 4000),
  datasetAddress: grpcAddressVar('DATASET_ADDR', '127.0.0.1:50051'),
  trainerAddress: grpcAddressVar('TRAINER_ADDR', '127.0.0.1:50052'),
  evaluatorAddress: grpcAddressVar('EVALUATOR_ADDR', '127.0.0.1:50053'),
  natsUrl: natsUrlVar(),
  grpcDeadlineMs: durationMsVar('GRPC_DEADLINE_MS', 10_000),
  introspection: booleanVar('GRAPHQL_INTROSPECTION', true),
  logLevel: logLevelVar(),
  tracesExporter: tracesExporterVar(),
  shutdownTimeoutMs: durationMsVar('SHUTDOWN_TIMEOUT_MS', 10_000),
};
export type GatewayConfig = ConfigOf<typeof gatewayConfigSpec>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(gatewayConfigSpec, env);
}
