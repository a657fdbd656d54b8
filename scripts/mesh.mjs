// Starts the mesh from the build outputs (dist/) for `make up` and `make demo`: NATS (the one at NATS_URL when it
// answers with JetStream, otherwise a local nats-server with a temporary store), then the dataset, trainer and
// evaluator services and the gateway as child processes, each waited for until healthy.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KIT = join(ROOT, 'packages/kit/dist/index.js');

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

const SERVICES = [
  { name: 'dataset', portVar: 'DATASET_PORT', port: 50051 },
  { name: 'trainer', portVar: 'TRAINER_PORT', port: 50052 },
  { name: 'evaluator', portVar: 'EVALUATOR_PORT', port: 50053 },
];
const GATEWAY = { name: 'gateway', portVar: 'GATEWAY_PORT', port: 4000 };

async function loadKit() {
  if (!existsSync(KIT)) throw new Error('packages/kit/dist is missing: run `make build` (or `pnpm run build`) first');
  return import(KIT);
}

function portOf(spec) {
  const raw = process.env[spec.portVar];
  return raw === undefined || raw === '' ? spec.port : Number(raw);
}

/** Uses NATS at NATS_URL when it answers with JetStream; otherwise starts a local nats-server. */
async function provideNats(kit, log) {
  const url = process.env.NATS_URL || DEFAULT_NATS_URL;
  try {
    const probe = await kit.connectNats({
      servers: url.split(','),
      name: 'tunemesh-mesh-probe',
      logger: kit.silentLogger(),
      connectTimeoutMs: 2_000,
    });
    await probe.close();
    log(`using NATS at ${url} (JetStream enabled)`);
    return { url, stop: async () => {} };
  } catch {
    log(`no NATS with JetStream answers at ${url}; starting a local nats-server`);
    const local = await kit.startNatsServerBinary();
    log(`local nats-server at ${local.url} (${local.kind}, temporary store)`);
    return local;
  }
}

function spawnService(spec, env, logLevel, onExit) {
  const main = join(ROOT, 'services', spec.name, 'dist/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`make build\` first`);
  const child = spawn(process.execPath, [main], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: process.env.LOG_LEVEL || logLevel },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in the terminal reaches only this script, which stops the services in order.
    detached: true,
  });
  // Never leave a service behind, even when this script dies abruptly.
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const prefix = (stream, out) => {
    let partial = '';
    stream.setEncoding('utf8').on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) out.write(`[${spec.name}] ${line}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
  });
  prefix(child.stderr, process.stderr);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then((r) => onExit(spec.name, r));
  return { name: spec.name, child, exited, stderr: () => stderr };
}

async function waitUntil(what, check, proc, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(
        `${what} exited with code ${proc.child.exitCode}: ${proc.stderr().trim() || 'see its log above'}`,
      );
    }
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become healthy within ${timeoutMs / 1000} s`);
}

/**
 * Starts everything; resolves to { gatewayUrl, stop() }. `onUnexpectedExit(name, result)` is called when a
 * service dies while the mesh runs.
 */
export async function startMesh({ log = console.log, logLevel = 'info', onUnexpectedExit = () => {} } = {}) {
  const kit = await loadKit();
  const nats = await provideNats(kit, log);
  const procs = [];
  let stopping = false;
  const onExit = (name, result) => {
    if (!stopping) onUnexpectedExit(name, result);
  };
  const stop = async () => {
    stopping = true;
    // Gateway first, so no request reaches a service that is already gone.
    for (const proc of [...procs].reverse()) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
      await proc.exited;
      clearTimeout(timer);
    }
    await nats.stop();
  };

  try {
    const addresses = {};
    for (const spec of SERVICES) {
      const port = portOf(spec);
      const proc = spawnService(spec, { PORT: String(port), NATS_URL: nats.url }, logLevel, onExit);
      procs.push(proc);
      addresses[spec.name] = `127.0.0.1:${port}`;
    }
    await Promise.all(
      procs.map((proc) => {
        const channel = kit.openChannel(addresses[proc.name]);
        return waitUntil(
          proc.name,
          async () =>
            (await kit.checkHealth(channel.channel, { component: 'mesh', deadlineMs: 1_000 })).status === 'SERVING',
          proc,
        ).finally(() => channel.close());
      }),
    );
    const gatewayPort = portOf(GATEWAY);
    const gateway = spawnService(
      GATEWAY,
      {
        PORT: String(gatewayPort),
        NATS_URL: nats.url,
        DATASET_ADDR: addresses.dataset,
        TRAINER_ADDR: addresses.trainer,
        EVALUATOR_ADDR: addresses.evaluator,
        // Local use only (make up, make demo): no API keys. deploy/ never sets this; the gateway logs it loudly.
        GATEWAY_DEV_MODE: 'true',
      },
      logLevel,
      onExit,
    );
    procs.push(gateway);
    const base = `http://127.0.0.1:${gatewayPort}`;
    await waitUntil('gateway', async () => (await fetch(`${base}/healthz`)).ok, gateway);
    return { gatewayUrl: `${base}/graphql`, natsUrl: nats.url, addresses, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
