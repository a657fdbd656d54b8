// The evaluator service process: PORT (default 50053), NATS_URL, LOG_LEVEL, OTEL_TRACES_EXPORTER, SHUTDOWN_TIMEOUT_MS.
import { runProcess } from '@tunemesh/kit';
import { loadEvaluatorConfig } from './config.js';
import { start } from './service.js';

await runProcess({
  name: 'evaluator',
  loadConfig: () => loadEvaluatorConfig(),
  start: (config, logger) => start(config, { logger }),
});
