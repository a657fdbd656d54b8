// Import settings in the service's own terms (no proto types), and the content hash that makes imports
// idempotent: the source bytes plus every setting that changes the stored data.

import { createHash } from 'node:crypto';
import type { ColumnMapping, DataFormat, FileFormat, OverlengthPolicy } from '@tunemesh/engine';

export type SplitSetting = { kind: 'none' } | { kind: 'fraction'; fraction: number } | { kind: 'count'; count: number };

export interface TemplateSetting {
  promptTemplate?: string;
  labelWords?: Record<string, string>;
  chatTemplate?: string;
  trainOnPrompt?: boolean;
  defaultSystemPrompt?: string;
  appendEos?: boolean;
}

export interface ImportSettings {
  fileFormat?: FileFormat;
  format?: DataFormat;
  mapping?: ColumnMapping;
  template: TemplateSetting;
  split: SplitSetting;
  seed: number;
  /** The tokenizer as the caller named it (model path), and where it resolved to on this server. */
  tokenizer?: { ref: string; dir: string };
  maxLength?: number;
  overlength: OverlengthPolicy;
  removeDuplicates: boolean;
}

/** Default seed of the split (the proto's documented default). */
export const DEFAULT_SEED = 42;

/** JSON with sorted keys, so equal settings hash equally whatever order they were built in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Dataset.content_sha256: source (and validation file) bytes and the settings that change the stored data. */
export function contentHash(
  sourceSha256: string,
  validationSha256: string | undefined,
  settings: ImportSettings,
): string {
  const { tokenizer, ...rest } = settings;
  // The tokenizer's resolved directory is a server detail; the name the caller gave identifies it.
  const material = canonical({
    v: 1,
    source: sourceSha256,
    validation: validationSha256,
    settings: { ...rest, tokenizer: tokenizer?.ref },
  });
  return createHash('sha256').update(material).digest('hex');
}
