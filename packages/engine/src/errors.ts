/**
 * Shared base for every typed error the engine throws. Folders subclass it
 * (SafetensorsError, ConfigError, ...) so callers can catch engine failures as
 * one family and still switch on a stable machine-readable `code`.
 */
export class EngineError extends Error {
  override readonly name: string = 'EngineError';
  readonly code: string;

  constructor(code: string, message: string, opts?: { cause?: unknown }) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
  }
}
