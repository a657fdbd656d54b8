// The shipped datasets (examples/alpaca, examples/chat) pass the engine's validator with no error and no warning.
// The demo's GraphQL operations are checked beside the schema: services/gateway/src/demo-operations.test.ts.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateDataFile } from '../packages/engine/src/index.js';

const root = (relative: string) => fileURLToPath(new URL(`../${relative}`, import.meta.url));

describe('shipped datasets', () => {
  it.each([
    ['examples/alpaca/instructions.jsonl', 'alpaca'],
    ['examples/chat/conversations.jsonl', 'chat'],
  ])('%s is valid %s data, a few hundred rows, none dropped', async (file, format) => {
    const summary = await validateDataFile(root(file));
    expect(summary.format).toBe(format);
    expect(summary.report.findings).toEqual([]);
    expect(summary.counts.total).toBeGreaterThanOrEqual(200);
    expect(summary.counts.kept).toBe(summary.counts.total);
  });
});
