// The trainer service process: PORT (default 50052), NATS_URL, LOG_LEVEL, OTEL_TRACES_EXPORTER, SHUTDOWN_TIMEOUT_MS.
import { runProcess } from '@tunemesh/kit';
import { loadTrainerConfig } from './config.js';
import { start } from './service.js';

await runProcess({
  name: 'trainer',
  loadConfig: () => loadTrainerConfig(),
  start: (config, logger) => start(config, { logger }),
});
