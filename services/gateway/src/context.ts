// What every resolver receives: the gRPC clients, NATS, the caller, and per-request loaders (batching).
import type { NatsHandle } from '@tunemesh/kit';
import type { AuthState } from './auth/authenticate.js';
import type { MeshClients } from './clients.js';
import type { Loaders } from './loaders.js';

export interface GatewayContext {
  clients: MeshClients;
  nats: NatsHandle;
  /** Created per request (HTTP) or per operation (WebSocket), so cached entities never outlive one response. */
  loaders: Loaders;
  /** The caller (or why there is none); root fields check it (auth/guard.ts). */
  auth: AuthState;
}
