// Runs one gRPC call; a failure becomes the GraphQL error of its status (errors.ts holds the one table). The
// trailers are captured so an INVALID_ARGUMENT keeps the service's offending field (tunemesh-field).
import type { ServiceTarget } from './clients.js';
import { graphQLErrorFromGrpc, type TrailerReader } from './errors.js';

export interface CallOptions {
  onTrailer(trailer: TrailerReader): void;
}

export async function call<T>(target: ServiceTarget<unknown>, fn: (options: CallOptions) => Promise<T>): Promise<T> {
  let trailer: TrailerReader | undefined;
  try {
    return await fn({
      onTrailer(t) {
        trailer = t;
      },
    });
  } catch (err) {
    throw graphQLErrorFromGrpc(err, target.name, trailer);
  }
}
