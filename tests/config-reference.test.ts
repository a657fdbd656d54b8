// docs/configuration.md is generated from the config schemas; this fails when a variable was added, removed or
// changed without regenerating it (node --conditions=tunemesh-source --import tsx scripts/config-reference.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_REFERENCE_PATH, renderConfigReference } from '../scripts/config-reference.js';

describe('docs/configuration.md', () => {
  it('is what scripts/config-reference.ts generates from the config schemas', () => {
    const committed = readFileSync(CONFIG_REFERENCE_PATH, 'utf8');
    expect(committed === renderConfigReference(), 'stale: run scripts/config-reference.ts and commit the file').toBe(
      true,
    );
  });

  it('names the variables every deployment sets', () => {
    const text = renderConfigReference();
    for (const name of ['NATS_URL', 'GATEWAY_KEYS_FILE', 'TRAINER_NODE_DEVICE', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      expect(text).toContain(`| \`${name}\` |`);
    }
  });
});
