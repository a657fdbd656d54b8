import { AbortError } from 'abort-controller-x';
import { ServerError, Status } from 'nice-grpc';
import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  CancelledError,
  ConflictError,
  DeadlineExceededError,
  type ErrorCode,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  PermissionDeniedError,
  ResourceExhaustedError,
  type TunemeshError,
  UnauthenticatedError,
  UnavailableError,
} from '../errors.js';
import { ERROR_TRAILERS, GRPC_STATUS_BY_ERROR_CODE, toServerError } from './error-mapping.js';

const cases: [TunemeshError, Status][] = [
  [new InvalidArgumentError('bad', { field: 'name' }), Status.INVALID_ARGUMENT],
  [new NotFoundError('no dataset ds_1'), Status.NOT_FOUND],
  [new AlreadyExistsError('exists'), Status.ALREADY_EXISTS],
  [new ConflictError('raced'), Status.ABORTED],
  [new FailedPreconditionError('not ready'), Status.FAILED_PRECONDITION],
  [new UnauthenticatedError('who'), Status.UNAUTHENTICATED],
  [new PermissionDeniedError('no'), Status.PERMISSION_DENIED],
  [new ResourceExhaustedError('full'), Status.RESOURCE_EXHAUSTED],
  [new UnavailableError('down'), Status.UNAVAILABLE],
  [new DeadlineExceededError('slow'), Status.DEADLINE_EXCEEDED],
  [new CancelledError('stop'), Status.CANCELLED],
  [new NotImplementedError('later'), Status.UNIMPLEMENTED],
];

describe('error mapping table', () => {
  it('covers every domain error code exactly once', () => {
    const codes = cases.map(([err]) => err.code).sort();
    expect(Object.keys(GRPC_STATUS_BY_ERROR_CODE).sort()).toEqual(codes);
  });

  it.each(cases)('%s maps to its status and carries code and retryable flag', (err, status) => {
    const mapped = toServerError(err);
    expect(mapped.error.code).toBe(status);
    expect(mapped.error.details).toBe(err.message);
    expect(mapped.expected).toBe(true);
    expect(mapped.trailers[ERROR_TRAILERS.code]).toBe(err.code satisfies ErrorCode);
    expect(mapped.trailers[ERROR_TRAILERS.retryable]).toBe(String(err.retryable));
  });

  it('names the class and keeps the cause', () => {
    const cause = new Error('disk');
    const err = new UnavailableError('store unavailable', { cause });
    expect(err.name).toBe('UnavailableError');
    expect(err.cause).toBe(cause);
    expect(err.retryable).toBe(true);
    expect(new NotFoundError('x').retryable).toBe(false);
  });

  it('sends the offending field of an invalid argument', () => {
    expect(toServerError(new InvalidArgumentError('too big', { field: 'lora.r' })).trailers[ERROR_TRAILERS.field]).toBe(
      'lora.r',
    );
  });

  it('passes a ServerError through unchanged', () => {
    const err = new ServerError(Status.UNIMPLEMENTED, 'later');
    expect(toServerError(err).error).toBe(err);
  });

  it('turns an abort into CANCELLED', () => {
    expect(toServerError(new AbortError()).error.code).toBe(Status.CANCELLED);
  });

  it('turns anything unexpected into INTERNAL without leaking its message', () => {
    const mapped = toServerError(new TypeError('Cannot read properties of undefined (reading "secret") at /srv/x.ts'));
    expect(mapped.error.code).toBe(Status.INTERNAL);
    expect(mapped.error.details).toBe('internal error');
    expect(mapped.expected).toBe(false);
    expect(toServerError('a string').error.code).toBe(Status.INTERNAL);
  });
});
