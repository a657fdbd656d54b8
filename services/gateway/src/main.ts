// The gateway process. Configuration from the environment: see README.md (PORT, the service addresses,
// NATS_URL, GATEWAY_DEV_MODE, GATEWAY_KEYS_FILE, limits, GRAPHQL_IDE, ...) and src/config.ts.
import { runProcess } from '@tunemesh/kit';
import { loadGatewayConfig } from './config.js';
import { start } from './service.js';

await runProcess({
  name: 'gateway',
  loadConfig: () => loadGatewayConfig(),
  start: (config, logger) => start(config, { logger }),
});
