// Test harness for the gateway suites: a real nats-server (kit harness), the three services as real gRPC servers
// whose methods each test programs (everything else answers UNIMPLEMENTED, as unbuilt services do), and the real
// gateway in front of them. Every call a service receives is recorded, so tests can count gRPC calls (batching).
import {
  type GrpcServerHandle,
  silentLogger,
  startGrpcServer,
  unimplementedService,
} from '../../packages/kit/src/index.js';
import { type LocalNatsServer, startTestNats } from '../../packages/kit/src/testing/index.js';
import {
  DatasetServiceDefinition,
  EvaluatorServiceDefinition,
  TrainerServiceDefinition,
} from '../../proto/src/index.js';
import {
  type GatewayHandle,
  type GraphQLResult,
  loadGatewayConfig,
  start as startGateway,
} from '../../services/gateway/src/index.js';

type Impl = (request: never) => unknown;
export type Overrides = Record<string, Impl>;

export interface RecordedCall {
  service: 'dataset' | 'trainer' | 'evaluator';
  method: string;
  request: unknown;
}

/** One message of a client stream, recorded the moment the service receives it (before the stream ends). */
export interface StreamedItem {
  service: RecordedCall['service'];
  method: string;
  item: unknown;
}

export interface GatewayHarness {
  nats: LocalNatsServer;
  gateway: GatewayHandle;
  calls: RecordedCall[];
  streamed: StreamedItem[];
  /** Replaces the programmed methods of one service (the rest stay UNIMPLEMENTED). */
  program(service: RecordedCall['service'], overrides: Overrides): void;
  graphql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResult>;
  restartGateway(): Promise<void>;
  stop(): Promise<void>;
}

export async function startGatewayHarness(env: Record<string, string> = {}): Promise<GatewayHarness> {
  const logger = silentLogger();
  const nats = await startTestNats();
  const calls: RecordedCall[] = [];
  const streamed: StreamedItem[] = [];
  const programmed: Record<RecordedCall['service'], Overrides> = { dataset: {}, trainer: {}, evaluator: {} };
  const definitions = {
    dataset: DatasetServiceDefinition,
    trainer: TrainerServiceDefinition,
    evaluator: EvaluatorServiceDefinition,
  } as const;

  const servers: GrpcServerHandle[] = [];
  for (const service of ['dataset', 'trainer', 'evaluator'] as const) {
    const definition = definitions[service];
    // Each method looks up its programmed implementation at call time, so tests can reprogram between cases.
    const dynamic: Record<string, (request: unknown) => Promise<unknown>> = {};
    for (const key of Object.keys(definition.methods)) {
      if (
        (definition.methods as Record<string, { requestStream: boolean; responseStream: boolean }>)[key]?.responseStream
      )
        continue;
      dynamic[key] = async (request: unknown) => {
        let recorded = request;
        if (request !== null && typeof request === 'object' && Symbol.asyncIterator in request) {
          const items: unknown[] = [];
          for await (const item of request as AsyncIterable<unknown>) {
            items.push(item);
            streamed.push({ service, method: key, item });
          }
          recorded = items;
        }
        calls.push({ service, method: key, request: recorded });
        const impl = programmed[service][key];
        const fallback = unimplementedService(definition, 'a later issue') as unknown as Record<
          string,
          (r: unknown) => Promise<unknown>
        >;
        return impl ? (impl as (r: unknown) => unknown)(recorded) : fallback[key]?.(recorded);
      };
    }
    servers.push(
      await startGrpcServer({
        name: service,
        host: '127.0.0.1',
        port: 0,
        logger,
        serviceNames: [definition.fullName],
        register: (server) =>
          server.add(definition, unimplementedService(definition, 'a later issue', dynamic as never)),
      }),
    );
  }
  const [dataset, trainer, evaluator] = servers;
  const config = () =>
    loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NATS_URL: nats.url,
      LOG_LEVEL: 'silent',
      DATASET_ADDR: dataset?.address,
      TRAINER_ADDR: trainer?.address,
      EVALUATOR_ADDR: evaluator?.address,
      // Suites that test auth pass GATEWAY_DEV_MODE: 'false' and a key file.
      GATEWAY_DEV_MODE: 'true',
      ...env,
    });
  let gateway = await startGateway(config(), { logger });

  const harness: GatewayHarness = {
    nats,
    get gateway() {
      return gateway;
    },
    calls,
    streamed,
    program(service, overrides) {
      programmed[service] = overrides;
    },
    async graphql(query, variables = {}, headers = {}) {
      const res = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as GraphQLResult;
    },
    async restartGateway() {
      await gateway.stop();
      gateway = await startGateway(config(), { logger });
    },
    async stop() {
      await gateway.stop();
      await Promise.all(servers.map((s) => s.shutdown()));
      await nats.stop();
    },
  };
  return harness;
}
