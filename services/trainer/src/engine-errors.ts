// The engine's errors (EngineError subclasses) carry a string `code`; the base class is not exported, so they
// are recognised by that shape. Node's file-system errors have one too, and for a model directory they mean
// the same thing: the files are not usable.

export type CodedError = Error & { readonly code: string };

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}
