// A trainer node process: NATS_URL, DATASET_ADDR, TRAINER_STORE_DIR (the artefact store shared with the
// service), TRAINER_NODE_ID (default "<hostname>-<pid>"), TRAINER_NODE_DEVICE (cpu|cuda), LOG_LEVEL. SIGTERM
// releases the running job to the queue and exits.
import { createLogger } from '@tunemesh/kit';
import { startTrainerNode } from './node/node.js';
import { loadNodeConfig } from './node-config.js';
import { artefactRoot } from './service.js';

const config = loadNodeConfig();
const logger = createLogger('trainer-node', config.logLevel);
const node = await startTrainerNode({
  natsUrl: config.natsUrl,
  datasetAddr: config.datasetAddr,
  artefactRoot: artefactRoot(config.storeDir),
  logger,
  device: config.device,
  workingMs: config.workingMs,
  heartbeatMs: config.heartbeatMs,
  capacity: config.capacity,
  ...(config.threads > 0 && { threads: config.threads }),
  ...(config.nodeId !== '' && { nodeId: config.nodeId }),
});
logger.info({ node: node.id }, 'trainer node ready');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void node.stop().then(() => process.exit(0));
  });
}
