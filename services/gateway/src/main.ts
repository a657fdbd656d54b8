// The gateway process: PORT (default 4000), DATASET_ADDR, TRAINER_ADDR, EVALUATOR_ADDR, NATS_URL, LOG_LEVEL,
// GRPC_DEADLINE_MS, GRAPHQL_INTROSPECTION, OTEL_TRACES_EXPORTER, SHUTDOWN_TIMEOUT_MS.
import { runProcess } from '@tunemesh/kit';
import { loadGatewayConfig } from './config.js';
import { start } from './service.js';

await runProcess({
  name: 'gateway',
  loadConfig: () => loadGatewayConfig(),
  start: (config, logger) => start(config, { logger }),
});
