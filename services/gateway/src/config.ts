import {
  booleanVar,
  type ConfigOf,
  durationMsVar,
  envVar,
  grpcAddressVar,
  hostVar,
  loadConfig,
  logLevelVar,
  natsUrlVar,
  otlpEndpointVar,
  portVar,
  shutdownTimeoutVar,
  tracesExporterVar,
} from '@tunemesh/kit';
import { z } from 'zod';

/** Environment variables of the gateway; each one's description is the configuration reference's text. */
export const gatewayConfigSpec = {
  host: hostVar(),
  port: portVar(
    'PORT',
    4000,
    'The HTTP port of everything the gateway serves: GraphQL at /graphql (and its WebSocket subscriptions), the dashboard at /, /healthz and /metrics.',
  ),
  datasetAddress: grpcAddressVar('DATASET_ADDR', '127.0.0.1:50051', 'The dataset service’s gRPC address.'),
  trainerAddress: grpcAddressVar('TRAINER_ADDR', '127.0.0.1:50052', 'The trainer service’s gRPC address.'),
  evaluatorAddress: grpcAddressVar('EVALUATOR_ADDR', '127.0.0.1:50053', 'The evaluator service’s gRPC address.'),
  natsUrl: natsUrlVar(),
  grpcDeadlineMs: durationMsVar(
    'GRPC_DEADLINE_MS',
    10_000,
    'How long one gRPC call from the gateway to a service may take before it fails with DEADLINE_EXCEEDED.',
  ),
  introspection: booleanVar(
    'GRAPHQL_INTROSPECTION',
    true,
    'Whether operations may use introspection (query the schema itself); false refuses such operations.',
  ),
  maxDepth: countVar(
    'GRAPHQL_MAX_DEPTH',
    12,
    'a whole number of levels',
    'The deepest selection nesting an operation may have; a deeper one is refused before it runs.',
  ),
  maxCost: countVar(
    'GRAPHQL_MAX_COST',
    25_000,
    'a whole number',
    'The highest estimated cost an operation may have (every field counts 1, multiplied by the sizes of the lists around it); a costlier one is refused before it runs.',
  ),
  maxBodyBytes: countVar(
    'MAX_BODY_BYTES',
    16 * 1024 * 1024,
    'a number of bytes',
    'The largest HTTP request body in bytes (16 MiB by default); inline JSONL dataset imports travel in it.',
  ),
  maxUploadBytes: countVar(
    'MAX_UPLOAD_BYTES',
    64 * 1024 * 1024,
    'a number of bytes',
    'The largest file of a multipart upload (importDataset’s upload) in bytes (64 MiB by default), held in memory while it is sent on to the dataset service.',
  ),
  rateLimitPerMinute: countVar(
    'RATE_LIMIT_PER_MINUTE',
    600,
    'a number of operations per minute',
    'Operations per minute per API key (per client address without a valid key), HTTP requests and WebSocket subscribes alike, with bursts up to the same number; 0 turns the limit off.',
  ),
  ide: booleanVar('GRAPHQL_IDE', true, 'Whether GET /graphql from a browser serves the offline GraphiQL page.'),
  dashboard: booleanVar('DASHBOARD', true, 'Whether GET / serves the web dashboard.'),
  dashboardDir: envVar(
    'DASHBOARD_DIR',
    'A directory of built dashboard files (index.html and assets) to serve instead of the ones @tunemesh/dashboard ships; empty serves those.',
    z.string(),
    'a directory with the built dashboard (index.html)',
    '',
  ),
  devMode: booleanVar(
    'GATEWAY_DEV_MODE',
    false,
    'For a laptop only (make up, make demo): no API key is needed and every caller is an admin. The gateway logs a warning at start when it is on.',
  ),
  keysFile: envVar(
    'GATEWAY_KEYS_FILE',
    'The API key store (hashed keys with their roles), shared with the admin CLI (node services/gateway/dist/admin.js); a relative path is taken from the working directory.',
    z.string().min(1),
    'a file path',
    'data/gateway-keys.json',
  ),
  logLevel: logLevelVar(),
  tracesExporter: tracesExporterVar(),
  otlpEndpoint: otlpEndpointVar(),
  shutdownTimeoutMs: shutdownTimeoutVar(),
};
function countVar(name: string, fallback: number, what: string, description: string) {
  return envVar(name, description, z.string().regex(/^\d+$/).transform(Number), what, String(fallback));
}

export type GatewayConfig = ConfigOf<typeof gatewayConfigSpec>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(gatewayConfigSpec, env);
}
