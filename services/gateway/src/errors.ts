// The one table from gRPC status codes to GraphQL error codes (extensions.code), and the formatter that makes
// every error leaving the gateway carry one of them, with nothing internal in its message.
import { ClientError, Status } from '@tunemesh/kit';
import { GraphQLError, type GraphQLFormattedError } from 'graphql/index.js';

export const ERROR_CODES = [
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'CONFLICT',
  'NOT_IMPLEMENTED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const GRAPHQL_CODE_BY_GRPC_STATUS: Readonly<Record<Exclude<Status, Status.OK>, ErrorCode>> = {
  [Status.CANCELLED]: 'UNAVAILABLE',
  [Status.UNKNOWN]: 'INTERNAL',
  [Status.INVALID_ARGUMENT]: 'BAD_USER_INPUT',
  [Status.DEADLINE_EXCEEDED]: 'UNAVAILABLE',
  [Status.NOT_FOUND]: 'NOT_FOUND',
  [Status.ALREADY_EXISTS]: 'CONFLICT',
  [Status.PERMISSION_DENIED]: 'FORBIDDEN',
  [Status.RESOURCE_EXHAUSTED]: 'UNAVAILABLE',
  [Status.FAILED_PRECONDITION]: 'CONFLICT',
  [Status.ABORTED]: 'CONFLICT',
  [Status.OUT_OF_RANGE]: 'BAD_USER_INPUT',
  [Status.UNIMPLEMENTED]: 'NOT_IMPLEMENTED',
  [Status.INTERNAL]: 'INTERNAL',
  [Status.UNAVAILABLE]: 'UNAVAILABLE',
  [Status.DATA_LOSS]: 'INTERNAL',
  [Status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
};

/** What a client sees for codes whose service message may name internals (addresses, files). */
const SAFE_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INTERNAL: 'internal error',
  UNAVAILABLE: 'a service the request needs is unavailable; retry later',
};

/** The part of a gRPC trailer (nice-grpc Metadata) the mapping reads. */
export interface TrailerReader {
  get(key: string): string | Uint8Array | undefined;
}

/** Trailer naming the request field a service rejected (kit's ERROR_TRAILERS.field). */
const FIELD_TRAILER = 'tunemesh-field';

/** A BAD_USER_INPUT error naming the offending input field, e.g. `input.method.lora.r`. */
export function badUserInput(message: string, field: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', field } });
}

/** Turns a failed gRPC call into the GraphQL error the client sees. */
export function graphQLErrorFromGrpc(err: unknown, service: string, trailer?: TrailerReader): GraphQLError {
  if (!(err instanceof ClientError) || err.code === Status.OK) {
    return new GraphQLError('internal error', { extensions: { code: 'INTERNAL' } });
  }
  const code = GRAPHQL_CODE_BY_GRPC_STATUS[err.code];
  const message = SAFE_MESSAGES[code] ?? err.details;
  const field = code === 'BAD_USER_INPUT' ? trailer?.get(FIELD_TRAILER) : undefined;
  return new GraphQLError(message, {
    extensions: { code, service, grpcStatus: Status[err.code], ...(typeof field === 'string' ? { field } : {}) },
  });
}

// Apollo's and graphql-js's own codes for a request the client got wrong.
const CLIENT_FAULT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/** Apollo formatError (and graphql-ws): every error gets a code from ERROR_CODES; unknown ones hide their message. */
export function formatError(formatted: GraphQLFormattedError): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
  if (isErrorCode(code)) return { ...formatted, extensions };
  if (typeof code === 'string' && CLIENT_FAULT_CODES.has(code)) {
    return { ...formatted, extensions: { ...extensions, code: 'BAD_USER_INPUT', reason: extensions.reason ?? code } };
  }
  // Validation errors produced outside Apollo's pipeline (graphql-ws) have no code but a location.
  if (code === undefined && formatted.locations !== undefined && formatted.path === undefined) {
    return { ...formatted, extensions: { ...extensions, code: 'BAD_USER_INPUT' } };
  }
  return {
    message: 'internal error',
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: 'INTERNAL' },
  };
}
