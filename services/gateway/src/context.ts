// What every resolver receives: the gRPC clients, NATS, the caller, and per-request loaders (batching).
import type { NatsHandle } from '@tunemesh/kit';
import type { MeshClients } from './clients.js';
import type { Loaders } from './loaders.js';

export interface GatewayContext {
  clients: MeshClients;
  nats: NatsHandle;
  /** Created per request (HTTP) or per operation (WebSocket), so cached entities never outlive one response. */
  loaders: Loaders;
}
