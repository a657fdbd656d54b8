// The dataset service process: PORT (default 50051), NATS_URL, LOG_LEVEL, OTEL_TRACES_EXPORTER, SHUTDOWN_TIMEOUT_MS.
import { runProcess } from '@tunemesh/kit';
import { loadDatasetConfig } from './config.js';
import { start } from './service.js';

await runProcess({
  name: 'dataset',
  loadConfig: () => loadDatasetConfig(),
  start: (config, logger) => start(config, { logger }),
});
