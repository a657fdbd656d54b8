// grpc-js prints its own errors to stderr ("E No address added out of total 1 resolved"), which would break the
// one-line startup errors. Silence it unless someone asked for its logs with GRPC_VERBOSITY.
import * as grpc from '@grpc/grpc-js';

let quieted = false;

export function quietGrpcJsLogs(): void {
  if (quieted || process.env.GRPC_VERBOSITY !== undefined) return;
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  quieted = true;
}
