// One debug line per call (method, status, duration); failures the client caused stay at debug too, bugs are
// logged by the error mapping with their stack.
import { ClientError, ServerError, type ServerMiddleware, Status } from 'nice-grpc';
import type { Logger } from '../logger.js';

export function callLoggingMiddleware(logger: Logger): ServerMiddleware {
  return async function* logCall(call, context) {
    const started = performance.now();
    let status = Status.OK;
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      status = err instanceof ServerError || err instanceof ClientError ? err.code : Status.UNKNOWN;
      throw err;
    } finally {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      logger.debug({ method: call.method.path, status: Status[status], ms, peer: context.peer }, 'grpc call');
    }
  };
}
