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
  tracesExporterVar,
} from '@tunemesh/kit';
import { z } from 'zod';

/** Environment variables of the gateway. */
export const gatewayConfigSpec = {
  host: hostVar(),
  port: portVar('PORT', 4000),
  datasetAddress: grpcAddressVar('DATASET_ADDR', '127.0.0.1:50051'),
  trainerAddress: grpcAddressVar('TRAINER_ADDR', '127.0.0.1:50052'),
  evaluatorAddress: grpcAddressVar('EVALUATOR_ADDR', '127.0.0.1:50053'),
  natsUrl: natsUrlVar(),
  grpcDeadlineMs: durationMsVar('GRPC_DEADLINE_MS', 10_000),
  introspection: booleanVar('GRAPHQL_INTROSPECTION', true),
  /** Deepest selection nesting an operation may have. */
  maxDepth: countVar('GRAPHQL_MAX_DEPTH', 12, 'a whole number of levels'),
  /** Highest estimated cost (fields × list sizes, see limits/query-shape.ts) an operation may have. */
  maxCost: countVar('GRAPHQL_MAX_COST', 25_000, 'a whole number'),
  /** Largest HTTP request body, in bytes (inline JSONL imports travel in it). */
  maxBodyBytes: countVar('MAX_BODY_BYTES', 16 * 1024 * 1024, 'a number of bytes'),
  /** Largest file of a multipart upload (importDataset input.upload), held in memory while it is sent on. */
  maxUploadBytes: countVar('MAX_UPLOAD_BYTES', 64 * 1024 * 1024, 'a number of bytes'),
  /** Operations per minute per API key (HTTP requests and WebSocket subscribes); 0 turns the limit off. */
  rateLimitPerMinute: countVar('RATE_LIMIT_PER_MINUTE', 600, 'a number of operations per minute'),
  /** The offline GraphiQL page at GET /graphql for browsers (ide.ts). */
  ide: booleanVar('GRAPHQL_IDE', true),
  /** The dashboard at GET / (dashboard.ts): built files of @tunemesh/dashboard, or of DASHBOARD_DIR when set. */
  dashboard: booleanVar('DASHBOARD', true),
  dashboardDir: envVar('DASHBOARD_DIR', z.string(), 'a directory with the built dashboard (index.html)', ''),
  /** No keys needed, every caller is admin: for a laptop only (make up, make demo). Logged loudly at start. */
  devMode: booleanVar('GATEWAY_DEV_MODE', false),
  /** The API key store (hashed keys), shared with the admin CLI (`node services/gateway/dist/admin.js`). */
  keysFile: envVar('GATEWAY_KEYS_FILE', z.string().min(1), 'a file path', 'data/gateway-keys.json'),
  logLevel: logLevelVar(),
  tracesExporter: tracesExporterVar(),
  otlpEndpoint: otlpEndpointVar(),
  shutdownTimeoutMs: durationMsVar('SHUTDOWN_TIMEOUT_MS', 10_000),
};
function countVar(name: string, fallback: number, what: string) {
  return envVar(name, z.string().regex(/^\d+$/).transform(Number), what, String(fallback));
}

export type GatewayConfig = ConfigOf<typeof gatewayConfigSpec>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(gatewayConfigSpec, env);
}
