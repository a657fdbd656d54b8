// The start-up the cross-service tests share: a test nats-server, tiny models and data files in a fresh temporary
// folder, the services a suite names (in-process, on free ports, wired to each other), an optional in-process
// trainer node, a gRPC client of each service, and one close() for all of it.
//
// It lives in tests/ rather than in a package because it starts every service: @tunemesh/kit (whose testing/
// holds the pieces with no service in them) must not depend on services, and a service must not depend on the
// others. The evaluator's in-package test imports it by relative path; services' tsconfigs leave *.test.ts out
// of their builds, so no package build reaches here. It does not import vitest, so bench/ uses it too.
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MakeTinyModelOptions, makeTinyModel } from '../../packages/engine/src/index.js';
import {
  type Channel,
  type ClientOptions,
  createServiceClient,
  type Logger,
  type MeshServiceHandle,
  openChannel,
  type ServiceClient,
  silentLogger,
} from '../../packages/kit/src/index.js';
import { freePort, type LocalNatsServer, startTestNats } from '../../packages/kit/src/testing/index.js';
import {
  DatasetServiceDefinition,
  EvaluatorServiceDefinition,
  TrainerServiceDefinition,
} from '../../proto/src/index.js';
import { loadDatasetConfig, start as startDataset } from '../../services/dataset/src/index.js';
import { loadEvaluatorConfig, start as startEvaluator } from '../../services/evaluator/src/index.js';
import type { GatewayHandle, GraphQLResult } from '../../services/gateway/src/index.js';
import { loadGatewayConfig, start as startGateway } from '../../services/gateway/src/index.js';
import {
  artefactRoot,
  loadTrainerConfig,
  start as startTrainer,
  startTrainerNode,
  type TrainerNodeHandle,
  type TrainerNodeOptions,
} from '../../services/trainer/src/index.js';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export type MeshServiceName = 'dataset' | 'trainer' | 'evaluator' | 'gateway';
type Env = Record<string, string | undefined>;
type ServiceEnv = Partial<Readonly<Record<MeshServiceName, Env>>>;
/** `T` where the suite started service `K`, `undefined` where it did not. */
type If<S extends MeshServiceName, K extends MeshServiceName, T> = K extends S ? T : undefined;

/** A trainer node's options less what the mesh supplies (NATS, the dataset service, the artefact store). */
export type MeshNodeOptions = Omit<TrainerNodeOptions, 'natsUrl' | 'datasetAddr' | 'artefactRoot' | 'logger'> & {
  logger?: Logger;
};

export interface MeshDirs {
  /** The suite's temporary folder; close() removes it. */
  readonly tmp: string;
  /** <tmp>/models: the model root of the dataset, trainer and evaluator services. */
  readonly models: string;
  /** <tmp>/data: the dataset service's data root. */
  readonly data: string;
  /** <tmp>/store: the trainer service's store. */
  readonly store: string;
  /** The trainer's artefact root inside its store (<root>/jobs/<job id>/…), where nodes write. */
  readonly artefacts: string;
}

export interface TestMeshOptions<S extends MeshServiceName> {
  /** The temporary folder's name prefix, e.g. `tm-trainer-`. */
  name: string;
  /** Started in this order whatever the order here: dataset, trainer, evaluator, gateway. */
  services: readonly S[];
  /** Tiny models written to <models>/<key> before anything starts. Default: `tiny`, qwen2, seed 1. */
  models?: Readonly<Record<string, Omit<MakeTinyModelOptions, 'out'>>>;
  /** Repository-relative files copied into <data> under their own names. Default: the engine's chat.jsonl. */
  data?: readonly string[];
  /** The rest of what the folders need before the services start (symlinks, odd model folders, key files). */
  prepare?: (dirs: MeshDirs) => Promise<void>;
  /** A trainer node started after the trainer service; none when absent. */
  node?: MeshNodeOptions;
  /**
   * Each service's own variables, over what the mesh sets (e.g. `{ gateway: { GATEWAY_DEV_MODE: 'true' } }`); a
   * function when they name the mesh's folders.
   */
  env?: ServiceEnv | ((dirs: MeshDirs) => ServiceEnv);
  /**
   * The dataset service is told the trainer's address (DATASET_TRAINER_ADDR, for base models' tokenizers) while
   * the trainer streams from the dataset service: the trainer's port is chosen before either starts.
   */
  datasetAsksTrainer?: boolean;
  /** Default: silent. */
  logger?: Logger;
  /** For the clients in `clients`. Default: `{ component: 'test' }`. */
  client?: ClientOptions;
}

export interface TestMesh<S extends MeshServiceName> extends MeshDirs {
  readonly nats: LocalNatsServer;
  /** What every service got: HOST, PORT, NATS_URL, LOG_LEVEL and the dataset service's folders. */
  readonly env: Readonly<Env>;
  readonly logger: Logger;
  readonly dataset: If<S, 'dataset', MeshServiceHandle>;
  readonly trainer: If<S, 'trainer', MeshServiceHandle>;
  readonly evaluator: If<S, 'evaluator', MeshServiceHandle>;
  readonly gateway: If<S, 'gateway', GatewayHandle>;
  /** The node of the `node` option. */
  readonly node: TrainerNodeHandle | undefined;
  readonly clients: {
    readonly dataset: If<S, 'dataset', ServiceClient<typeof DatasetServiceDefinition>>;
    readonly trainer: If<S, 'trainer', ServiceClient<typeof TrainerServiceDefinition>>;
    readonly evaluator: If<S, 'evaluator', ServiceClient<typeof EvaluatorServiceDefinition>>;
  };
  /** POSTs one GraphQL request to the gateway and returns its answer as it is (errors included). */
  graphql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResult>;
  /** Another trainer node on this mesh; close() stops it unless the test already has. */
  startNode(options: MeshNodeOptions): Promise<TrainerNodeHandle>;
  /** Stops everything this mesh started, newest first, and removes the folder; every step runs even if one fails. */
  close(): Promise<void>;
}

const DEFAULT_MODELS: Readonly<Record<string, Omit<MakeTinyModelOptions, 'out'>>> = {
  tiny: { arch: 'qwen2', seed: 1 },
};
const DEFAULT_DATA = ['packages/engine/src/data/testdata/chat.jsonl'];

export async function startTestMesh<S extends MeshServiceName>(o: TestMeshOptions<S>): Promise<TestMesh<S>> {
  const has = (name: MeshServiceName) => (o.services as readonly MeshServiceName[]).includes(name);
  const tmp = await mkdtemp(join(tmpdir(), o.name));
  const store = join(tmp, 'store');
  const dirs: MeshDirs = {
    tmp,
    models: join(tmp, 'models'),
    data: join(tmp, 'data'),
    store,
    artefacts: artefactRoot(store),
  };
  const logger = o.logger ?? silentLogger();
  // Undone in reverse by close(); pushed as each piece starts, so a failed start-up closes what it had started.
  const stops: (() => Promise<void> | void)[] = [() => rm(tmp, { recursive: true, force: true })];
  // The gateway, then the nodes, go first (before the services they call), as the suites this replaced did.
  let gateway: GatewayHandle | undefined;
  const nodes: TrainerNodeHandle[] = [];
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      let first: unknown;
      const steps = [() => gateway?.stop(), ...nodes.reverse().map((n) => () => n.stop()), ...stops.reverse()];
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    })();
    return closed;
  };

  try {
    await mkdir(dirs.data, { recursive: true });
    await mkdir(dirs.models, { recursive: true });
    for (const [name, model] of Object.entries(o.models ?? DEFAULT_MODELS))
      await makeTinyModel({ ...model, out: join(dirs.models, name) });
    for (const file of o.data ?? DEFAULT_DATA) await copyFile(join(repoRoot, file), join(dirs.data, basename(file)));
    await o.prepare?.(dirs);
    const own = typeof o.env === 'function' ? o.env(dirs) : (o.env ?? {});

    const nats = await startTestNats();
    stops.push(() => nats.stop());
    const env: Env = {
      HOST: '127.0.0.1',
      PORT: '0',
      NATS_URL: nats.url,
      LOG_LEVEL: 'silent',
      DATASET_STORE_DIR: join(tmp, 'dataset'),
      DATASET_DATA_ROOTS: dirs.data,
      DATASET_MODEL_ROOTS: dirs.models,
    };
    const trainerPort = o.datasetAsksTrainer ? await freePort() : undefined;
    const channels = new Map<MeshServiceName, Channel>();
    // A gRPC service is stopped after its channel is closed.
    const serve = (name: MeshServiceName, handle: MeshServiceHandle): MeshServiceHandle => {
      stops.push(() => handle.stop());
      const channel = openChannel(handle.address);
      stops.push(() => channel.close());
      channels.set(name, channel.channel);
      return handle;
    };

    let dataset: MeshServiceHandle | undefined;
    if (has('dataset')) {
      const asks = trainerPort === undefined ? {} : { DATASET_TRAINER_ADDR: `127.0.0.1:${trainerPort}` };
      dataset = serve(
        'dataset',
        await startDataset(loadDatasetConfig({ ...env, ...asks, ...own.dataset }), { logger }),
      );
    }
    let trainer: MeshServiceHandle | undefined;
    if (has('trainer')) {
      const config = loadTrainerConfig({
        ...env,
        ...(trainerPort !== undefined && { PORT: String(trainerPort) }),
        TRAINER_STORE_DIR: store,
        TRAINER_MODEL_ROOTS: dirs.models,
        DATASET_ADDR: dataset?.address,
        ...own.trainer,
      });
      trainer = serve('trainer', await startTrainer(config, { logger }));
    }

    const startNode = async (options: MeshNodeOptions): Promise<TrainerNodeHandle> => {
      if (dataset === undefined) throw new Error('a trainer node needs the dataset service in the mesh');
      const node = await startTrainerNode({
        natsUrl: [nats.url],
        datasetAddr: dataset.address,
        artefactRoot: dirs.artefacts,
        logger,
        ...options,
      });
      // A node's stop() is idempotent, so a test may stop its own nodes first.
      nodes.push(node);
      return node;
    };
    const node = o.node === undefined ? undefined : await startNode(o.node);

    let evaluator: MeshServiceHandle | undefined;
    if (has('evaluator')) {
      const config = loadEvaluatorConfig({
        ...env,
        EVALUATOR_STORE_DIR: join(tmp, 'evaluator'),
        EVALUATOR_MODEL_ROOTS: dirs.models,
        // The trainer's artefact root as it is: the evaluator reads <root>/jobs/<job id>/adapter.
        EVALUATOR_ADAPTER_ROOT: dirs.artefacts,
        EVALUATOR_DATASET_ADDR: dataset?.address,
        // Base models are named by the trainer's ids ("bm-…"): the evaluator resolves them through the trainer.
        EVALUATOR_TRAINER_ADDR: trainer?.address,
        ...own.evaluator,
      });
      evaluator = serve('evaluator', await startEvaluator(config, { logger }));
    }
    if (has('gateway')) {
      const config = loadGatewayConfig({
        ...env,
        DATASET_ADDR: dataset?.address,
        TRAINER_ADDR: trainer?.address,
        EVALUATOR_ADDR: evaluator?.address,
        ...own.gateway,
      });
      gateway = await startGateway(config, { logger });
    }

    const opts = o.client ?? { component: 'test' };
    const dc = channels.get('dataset');
    const tc = channels.get('trainer');
    const ec = channels.get('evaluator');
    const mesh = {
      ...dirs,
      nats,
      env,
      logger,
      dataset,
      trainer,
      evaluator,
      gateway,
      node,
      clients: {
        dataset: dc && createServiceClient(DatasetServiceDefinition, dc, opts),
        trainer: tc && createServiceClient(TrainerServiceDefinition, tc, opts),
        evaluator: ec && createServiceClient(EvaluatorServiceDefinition, ec, opts),
      },
      async graphql(query: string, variables = {}, headers: Record<string, string> = {}) {
        if (gateway === undefined) throw new Error('graphql() needs the gateway in the mesh');
        const res = await fetch(gateway.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ query, variables }),
        });
        return (await res.json()) as GraphQLResult;
      },
      startNode,
      close,
    };
    // What was started follows `services`, which the type cannot see through `has()`.
    return mesh as TestMesh<S>;
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
