// `make up`: runs the mesh in the foreground from the build outputs until Ctrl-C.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMesh } from './mesh.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// Unless the environment says otherwise: imports by path may read the shipped examples, and base models may be
// registered from the folder where `make demo` makes its model.
const roots = (name, fallback) => process.env[name] || fallback;
const examples = join(ROOT, 'examples');
const models = join(ROOT, 'demo-output', 'models');

let mesh;
try {
  mesh = await startMesh({
    env: {
      DATASET_DATA_ROOTS: roots('DATASET_DATA_ROOTS', examples),
      DATASET_MODEL_ROOTS: roots('DATASET_MODEL_ROOTS', models),
      TRAINER_MODEL_ROOTS: roots('TRAINER_MODEL_ROOTS', models),
      EVALUATOR_MODEL_ROOTS: roots('EVALUATOR_MODEL_ROOTS', models),
    },
    onUnexpectedExit: async (name, { code, signal }) => {
      console.error(`up: ${name} stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping the mesh`);
      await mesh?.stop();
      process.exit(1);
    },
  });
} catch (err) {
  console.error(`up: ${err.message}`);
  process.exit(1);
}

console.log(`
tunemesh is up
  Dashboard: ${mesh.gatewayUrl.replace(/\/graphql$/, '/')}
  GraphQL (HTTP and WebSocket): ${mesh.gatewayUrl}
  dataset   gRPC ${mesh.addresses.dataset}
  trainer   gRPC ${mesh.addresses.trainer}
  evaluator gRPC ${mesh.addresses.evaluator}
  NATS      ${mesh.natsUrl}
  data roots   ${roots('DATASET_DATA_ROOTS', examples)}
  model roots  ${roots('TRAINER_MODEL_ROOTS', models)}
Try: curl -s ${mesh.gatewayUrl} -H 'content-type: application/json' -d '{"query":"{ health { status components { name status } } }"}'
Ctrl-C stops everything.
`);

let stopping = false;
const shutdown = async (signal) => {
  if (stopping) return;
  stopping = true;
  console.log(`up: ${signal}: stopping the mesh`);
  await mesh.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
