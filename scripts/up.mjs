// `make up`: runs the mesh in the foreground from the build outputs until Ctrl-C.
import { startMesh } from './mesh.mjs';

let mesh;
try {
  mesh = await startMesh({
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
  GraphQL (HTTP and WebSocket): ${mesh.gatewayUrl}
  dataset   gRPC ${mesh.addresses.dataset}
  trainer   gRPC ${mesh.addresses.trainer}
  evaluator gRPC ${mesh.addresses.evaluator}
  NATS      ${mesh.natsUrl}
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
