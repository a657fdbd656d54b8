// The one table from domain errors to gRPC status codes, and the server middleware that applies it. Anything
// that is not a domain error (a bug, a library failure) becomes INTERNAL with a generic message: internals are
// logged with the trace id, never sent.
import { trace } from '@opentelemetry/api';
import { isAbortError } from 'abort-controller-x';
import { ServerError, type ServerMiddleware, Status } from 'nice-grpc';
import { type ErrorCode, InvalidArgumentError, TunemeshError } from '../errors.js';
import type { Logger } from '../logger.js';

export const GRPC_STATUS_BY_ERROR_CODE: Readonly<Record<ErrorCode, Status>> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  CONFLICT: Status.ABORTED,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: Status.UNAVAILABLE,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  CANCELLED: Status.CANCELLED,
  NOT_IMPLEMENTED: Status.UNIMPLEMENTED,
};

/** Trailer keys that carry the domain error's type across the process boundary. */
export const ERROR_TRAILERS = {
  code: 'tunemesh-error-code',
  retryable: 'tunemesh-retryable',
  field: 'tunemesh-field',
} as const;

export const INTERNAL_MESSAGE = 'internal error';

export interface MappedError {
  error: ServerError;
  /** Domain error type and retryable flag, sent as trailers so the caller can rebuild the failure. */
  trailers: Record<string, string>;
  /** False for a bug: the caller logs the original with its stack. */
  expected: boolean;
}

/** Maps anything thrown by a handler to the status the client sees. */
export function toServerError(err: unknown): MappedError {
  if (err instanceof ServerError) {
    return { error: err, trailers: {}, expected: true };
  }
  if (err instanceof TunemeshError) {
    const trailers: Record<string, string> = {
      [ERROR_TRAILERS.code]: err.code,
      [ERROR_TRAILERS.retryable]: String(err.retryable),
    };
    if (err instanceof InvalidArgumentError && err.field !== undefined) trailers[ERROR_TRAILERS.field] = err.field;
    return { error: new ServerError(GRPC_STATUS_BY_ERROR_CODE[err.code], err.message), trailers, expected: true };
  }
  if (isAbortError(err)) {
    return { error: new ServerError(Status.CANCELLED, 'call cancelled'), trailers: {}, expected: true };
  }
  const traceId = trace.getActiveSpan()?.spanContext().traceId;
  const suffix = traceId === undefined ? '' : ` (trace ${traceId})`;
  return { error: new ServerError(Status.INTERNAL, `${INTERNAL_MESSAGE}${suffix}`), trailers: {}, expected: false };
}

/** Server middleware applying the table; innermost, so tracing and logging see the mapped status. */
export function errorMappingMiddleware(logger: Logger): ServerMiddleware {
  return async function* mapErrors(call, context) {
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      const mapped = toServerError(err);
      if (!mapped.expected) logger.error({ err, method: call.method.path }, 'unexpected error in handler');
      for (const [key, value] of Object.entries(mapped.trailers)) context.trailer.set(key, value);
      throw mapped.error;
    }
  };
}
