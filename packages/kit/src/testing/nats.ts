// A real nats-server with JetStream per test suite: a container when a Docker engine is reachable (the same
// image everywhere), otherwise the local binary. TUNEMESH_TEST_NATS=binary|container forces one.
import { existsSync } from 'node:fs';
import { type LocalNatsServer, startNatsServerBinary } from '../nats/local-server.js';

const NATS_IMAGE = 'nats:2.10-alpine';

function dockerMaybeReachable(): boolean {
  return process.env.DOCKER_HOST !== undefined || existsSync('/var/run/docker.sock');
}

async function startNatsContainer(): Promise<LocalNatsServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(NATS_IMAGE)
    .withCommand(['-js'])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  const port = container.getMappedPort(4222);
  return {
    url: `nats://${container.getHost()}:${port}`,
    port,
    kind: `container ${NATS_IMAGE}`,
    stop: async () => {
      await container.stop();
    },
  };
}

export async function startTestNats(): Promise<LocalNatsServer> {
  const mode = process.env.TUNEMESH_TEST_NATS;
  if (mode === 'container' || (mode !== 'binary' && dockerMaybeReachable())) {
    try {
      return await startNatsContainer();
    } catch (err) {
      if (mode === 'container') throw err;
      // A socket that does not answer (or no image offline): fall back to the binary.
    }
  }
  return startNatsServerBinary();
}
