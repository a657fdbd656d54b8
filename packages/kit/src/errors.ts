// Domain errors shared by every service. Each failure is its own class with `name` set, a stable `code` string
// and a `retryable` flag: the code and flag cross process boundaries (gRPC trailers), the class does not.

/** Every code a domain error may carry; grpc/error-mapping.ts maps each one to a gRPC status in one table. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'FAILED_PRECONDITION'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'NOT_IMPLEMENTED';

export interface TunemeshErrorOptions {
  cause?: unknown;
}

/** Base class: never thrown directly, so every failure has a specific name. */
export abstract class TunemeshError extends Error {
  abstract readonly code: ErrorCode;
  /** True when the same request may succeed later without change (a dependency was briefly unavailable). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: TunemeshErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends TunemeshError {
  readonly code = 'INVALID_ARGUMENT';
  /** The offending request field, e.g. `hyperparameters.learning_rate`, when one field is at fault. */
  readonly field: string | undefined;
  constructor(message: string, options?: TunemeshErrorOptions & { field?: string }) {
    super(message, options);
    this.field = options?.field;
  }
}

export class NotFoundError extends TunemeshError {
  readonly code = 'NOT_FOUND';
}

export class AlreadyExistsError extends TunemeshError {
  readonly code = 'ALREADY_EXISTS';
}

/** A concurrent change won: the caller should re-read and decide again. */
export class ConflictError extends TunemeshError {
  readonly code = 'CONFLICT';
}

export class FailedPreconditionError extends TunemeshError {
  readonly code = 'FAILED_PRECONDITION';
}

export class UnauthenticatedError extends TunemeshError {
  readonly code = 'UNAUTHENTICATED';
}

export class PermissionDeniedError extends TunemeshError {
  readonly code = 'PERMISSION_DENIED';
}

export class ResourceExhaustedError extends TunemeshError {
  readonly code = 'RESOURCE_EXHAUSTED';
  override readonly retryable = true;
}

export class UnavailableError extends TunemeshError {
  readonly code = 'UNAVAILABLE';
  override readonly retryable = true;
}

export class DeadlineExceededError extends TunemeshError {
  readonly code = 'DEADLINE_EXCEEDED';
  override readonly retryable = true;
}

export class CancelledError extends TunemeshError {
  readonly code = 'CANCELLED';
}

/** What is not built yet says so, naming the issue that builds it, instead of returning invented data. */
export class NotImplementedError extends TunemeshError {
  readonly code = 'NOT_IMPLEMENTED';
}

/**
 * A process cannot start (port taken, NATS unreachable, bad configuration). The message is one line naming the
 * cause and the fix; `exitCode` is what the process exits with (2 for configuration, 1 otherwise).
 */
export class StartupError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: TunemeshErrorOptions & { exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StartupError';
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** A configuration variable is missing or malformed; exit code 2 like other usage errors. */
export class ConfigError extends StartupError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message, { exitCode: 2 });
    this.name = 'ConfigError';
    this.variable = variable;
  }
}
