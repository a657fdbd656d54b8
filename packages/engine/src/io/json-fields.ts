import type { EngineError } from '../errors.js';

// Small typed readers over a parsed JSON object. Each names the file and field in its error so a bad
// config.json or adapter_config.json says exactly what to fix.

type ErrorFactory = (code: string, message: string) => EngineError;

export class Fields {
  constructor(
    readonly obj: Readonly<Record<string, unknown>>,
    readonly file: string,
    private readonly fail: ErrorFactory,
  ) {}

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key) && this.obj[key] !== null && this.obj[key] !== undefined;
  }

  error(code: string, field: string, message: string): EngineError {
    return this.fail(code, `${this.file}: field "${field}" ${message}`);
  }

  private missing(key: string): EngineError {
    return this.error('missing-field', key, 'is required');
  }

  private wrong(key: string, want: string): EngineError {
    const v = this.obj[key];
    const got = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
    return this.error('wrong-type', key, `must be ${want}, got ${got}${typeof v === 'number' ? ` ${v}` : ''}`);
  }

  /** A positive integer (sizes and counts). */
  posInt(key: string, fallback?: number): number {
    if (!this.has(key)) {
      if (fallback === undefined) throw this.missing(key);
      return fallback;
    }
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw this.wrong(key, 'a positive integer');
    return v;
  }

  nonNegInt(key: string, fallback?: number): number {
    if (!this.has(key)) {
      if (fallback === undefined) throw this.missing(key);
      return fallback;
    }
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw this.wrong(key, 'a non-negative integer');
    return v;
  }

  optPosInt(key: string): number | null {
    return this.has(key) ? this.posInt(key) : null;
  }

  /** A finite number > 0 (epsilons, rope theta, scaling factors). */
  posNumber(key: string, fallback?: number): number {
    if (!this.has(key)) {
      if (fallback === undefined) throw this.missing(key);
      return fallback;
    }
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw this.wrong(key, 'a positive finite number');
    return v;
  }

  number(key: string, fallback?: number): number {
    if (!this.has(key)) {
      if (fallback === undefined) throw this.missing(key);
      return fallback;
    }
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.wrong(key, 'a finite number');
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    if (!this.has(key)) {
      if (fallback === undefined) throw this.missing(key);
      return fallback;
    }
    const v = this.obj[key];
    if (typeof v !== 'boolean') throw this.wrong(key, 'true or false');
    return v;
  }

  string(key: string, fallback?: string): string {
    if (!this.has(key)) {
      if (fallback === undefined) throw this.missing(key);
      return fallback;
    }
    const v = this.obj[key];
    if (typeof v !== 'string') throw this.wrong(key, 'a string');
    return v;
  }

  optString(key: string): string | null {
    return this.has(key) ? this.string(key) : null;
  }

  optStringList(key: string): string[] | null {
    if (!this.has(key)) return null;
    const v = this.obj[key];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw this.wrong(key, 'a list of strings');
    return [...(v as string[])];
  }

  /** A token id: null/absent, or a non-negative integer. */
  optTokenId(key: string): number | null {
    return this.has(key) ? this.nonNegInt(key) : null;
  }

  /** eos_token_id may be one id or a list of ids. */
  tokenIds(key: string): number[] {
    if (!this.has(key)) return [];
    const v = this.obj[key];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
      throw this.wrong(key, 'a token id or a list of token ids');
    return list as number[];
  }

  object(key: string): Fields | null {
    if (!this.has(key)) return null;
    const v = this.obj[key];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.wrong(key, 'an object');
    return new Fields(v as Record<string, unknown>, `${this.file}: "${key}"`, this.fail);
  }
}
