// docs/configuration.md is generated from the config schemas; this fails when a variable was added, removed or
// changed without regenerating it (node --conditions=tunemesh-source --import tsx scripts/config-reference.ts),
// and when a variable's schema entry lacks a description the reference could show.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_REFERENCE_PATH, PROCESSES, renderConfigReference } from '../scripts/config-reference.js';

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

  it('describes every variable of every process, from its schema entry', () => {
    const missing: string[] = [];
    let count = 0;
    for (const p of PROCESSES) {
      for (const v of Object.values(p.spec)) {
        count++;
        // Checked at run time too: a spec built by hand (or cast) can lack what the type requires.
        const d: unknown = (v as { description?: unknown }).description;
        const text = typeof d === 'string' ? d.trim() : '';
        // A sentence of its own: not empty, not the accepted form again, ended like a sentence.
        if (text.length < 20 || text === v.expected || !/\.$/.test(text))
          missing.push(`${p.title}: ${v.name} ${JSON.stringify(d)}`);
      }
    }
    expect(count).toBeGreaterThan(40);
    expect(missing, 'variables without a description in their config schema').toEqual([]);
  });

  it('puts each description in its variable’s row', () => {
    const text = renderConfigReference();
    const nats = PROCESSES[0]?.spec.natsUrl;
    expect(nats?.name).toBe('NATS_URL');
    expect(text).toContain(`| \`NATS_URL\` | ${nats?.description} |`);
    // A path placeholder such as <job id> is shown, not swallowed as an HTML tag.
    expect(text).toContain('&lt;root>/jobs/&lt;job id>/adapter');
  });
});
