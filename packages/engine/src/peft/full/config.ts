// Full fine-tuning has no settings of its own: every weight trains. The config object exists so the method
// fits the registry like the others; unknown fields are refused rather than silently ignored.

import { PeftError } from '../errors.js';

export type FullConfig = Record<string, never>;

export function parseFullConfig(json: unknown, where: string): FullConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftError('bad-config', `${where}: full fine-tuning config must be a JSON object`);
  const keys = Object.keys(json).filter((k) => k !== 'method');
  if (keys.length > 0)
    throw new PeftError('bad-config', `${where}: full fine-tuning takes no settings (got ${keys.join(', ')})`);
  return {};
}
