// Starts the mesh for `make up` and `make demo`: NATS (the one at NATS_URL when it answers with JetStream,
// otherwise a local nats-server with a temporary store), then the dataset, trainer and evaluator services, the
// trainer nodes and the gateway as child processes, each waited for until healthy. It runs the build outputs
// (dist/), or the TypeScript sources when this script itself runs under tsx with TUNEMESH_FROM_SOURCE=1 (the
// demo's end-to-end test, so that it never runs a stale build).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FROM_SOURCE = process.env.TUNEMESH_FROM_SOURCE === '1';
const KIT = join(ROOT, FROM_SOURCE ? 'packages/kit/src/index.ts' : 'packages/kit/dist/index.js');

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
async function provideNats(kit, log, own) {
  const url = process.env.NATS_URL || DEFAULT_NATS_URL;
  if (own) {
    const local = await kit.startNatsServerBinary();
    log(`nats-server at ${local.url} (${local.kind}, temporary store)`);
    return local;
  }
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
  const service = spec.service ?? spec.name;
  const entry = spec.entry ?? 'main';
  const main = join(ROOT, 'services', service, FROM_SOURCE ? `src/${entry}.ts` : `dist/${entry}.js`);
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`make build\` first`);
  // From source, children inherit this process's --conditions=tunemesh-source --import tsx.
  const child = spawn(process.execPath, [...(FROM_SOURCE ? process.execArgv : []), main], {
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

/** Posts one GraphQL request (the gateway runs in dev mode here: no API key). */
async function graphql(url, query) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return res.json();
}

/**
 * Starts everything; resolves to { gatewayUrl, wsUrl, stop() }. `env` is added to every process's environment
 * (stores, allowed roots); `nodes` trainer node processes join (default 1); `ownNats` starts a fresh nats-server
 * even when one answers at NATS_URL (the demo: no streams left over from other runs). `onUnexpectedExit(name, result)` is
 * called when a process dies while the mesh runs.
 */
export async function startMesh({
  log = console.log,
  logLevel = 'info',
  onUnexpectedExit = () => {},
  env: extraEnv = {},
  nodes = 1,
  ownNats = false,
} = {}) {
  const kit = await loadKit();
  const nats = await provideNats(kit, log, ownNats);
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
    const addresses = Object.fromEntries(SERVICES.map((spec) => [spec.name, `127.0.0.1:${portOf(spec)}`]));
    // Each service finds the others it calls at the ports chosen here.
    const trainerStore =
      extraEnv.TRAINER_STORE_DIR || process.env.TRAINER_STORE_DIR || join(tmpdir(), 'tunemesh-trainer');
    const peers = {
      DATASET_ADDR: addresses.dataset,
      DATASET_TRAINER_ADDR: addresses.trainer,
      EVALUATOR_DATASET_ADDR: addresses.dataset,
      EVALUATOR_TRAINER_ADDR: addresses.trainer,
      // The evaluator reads the trainer's adapters where the trainer writes them.
      EVALUATOR_ADAPTER_ROOT: process.env.EVALUATOR_ADAPTER_ROOT || join(trainerStore, 'artefacts'),
    };
    for (const spec of SERVICES) {
      const env = { ...peers, ...extraEnv, PORT: String(portOf(spec)), NATS_URL: nats.url };
      procs.push(spawnService(spec, env, logLevel, onExit));
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
    for (let i = 1; i <= nodes; i++) {
      const spec = { name: `node-${i}`, service: 'trainer', entry: 'node-main' };
      const nodeEnv = { ...extraEnv, NATS_URL: nats.url, DATASET_ADDR: addresses.dataset };
      procs.push(spawnService(spec, { ...nodeEnv, TRAINER_NODE_ID: `${hostname()}-node-${i}` }, logLevel, onExit));
    }
    const gatewayPort = portOf(GATEWAY);
    const gateway = spawnService(
      GATEWAY,
      {
        ...extraEnv,
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
    const gatewayUrl = `${base}/graphql`;
    // Nodes announce themselves by heartbeat on NATS; the mesh is up once the trainer service lists them all.
    const firstNode = procs.find((p) => p.name === 'node-1');
    if (firstNode) {
      await waitUntil(
        `${nodes} trainer node(s)`,
        async () => ((await graphql(gatewayUrl, '{ trainerNodes { id } }')).data?.trainerNodes?.length ?? 0) >= nodes,
        firstNode,
      );
    }
    return { gatewayUrl, wsUrl: `ws://127.0.0.1:${gatewayPort}/graphql`, natsUrl: nats.url, addresses, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
