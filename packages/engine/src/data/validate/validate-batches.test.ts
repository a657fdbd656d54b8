// Rows tokenised elsewhere (as the dataset service does in worker threads) must give the same examples and
// the same report, finding for finding in file order, as rows tokenised in line — across batch boundaries,
// with results arriving late and out of order, and with every overlength and duplicate policy.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../batches.js';
import type { DataRow } from '../rows.js';
import { loadTokenizer, type Tokenizer } from '../tokenizer.js';
import { DigestTable } from './digest-table.js';
import {
  DataValidation,
  type RowTokenization,
  rowTokenizeSettings,
  tokenizeForValidation,
  type ValidateOptions,
} from './validate.js';

const FIXTURES = fileURLToPath(new URL('../../../../../../shared/fixtures/', import.meta.url));

let tok: Tokenizer;
let dir: string;
let file: string;
beforeAll(async () => {
  tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
  dir = await mkdtemp(join(tmpdir(), 'tm-validate-batches-'));
  file = join(dir, 'mixed.jsonl');
  await writeFile(file, mixedLines(700).join('\n'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Chat records with a problem every few lines: bad JSON, bad roles, empty replies, duplicates, long ones. */
function mixedLines(n: number): string[] {
  const next = seededRandom(5);
  const words = 'the of and to in is was that for on with as by at from this be are'.split(' ');
  const say = (k: number) => Array.from({ length: k }, () => words[Math.floor(next() * words.length)]).join(' ');
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.03) lines.push('{"messages": [');
    else if (r < 0.05) lines.push('');
    else if (r < 0.08) lines.push(JSON.stringify({ messages: [{ role: 'robot', content: 'x' }] }));
    else if (r < 0.11)
      lines.push(
        JSON.stringify({
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: ' ' },
          ],
        }),
      );
    else if (r < 0.14)
      lines.push(
        JSON.stringify({
          messages: [
            { role: 'user', content: 'q' },
            { role: 'assistant', content: 'a', weight: 0 },
          ],
        }),
      );
    else if (r < 0.2 && lines.length > 0) lines.push(lines[Math.floor(next() * lines.length)] as string);
    else if (r < 0.28)
      lines.push(
        JSON.stringify({
          messages: [
            { role: 'user', content: say(40) },
            { role: 'assistant', content: say(60) },
          ],
        }),
      );
    else if (r < 0.3)
      lines.push(
        JSON.stringify({
          messages: [
            { role: 'user', content: say(90) },
            { role: 'assistant', content: 'ok' },
          ],
        }),
      );
    else
      lines.push(
        JSON.stringify({
          messages: [
            { role: 'user', content: say(1 + (i % 12)) },
            { role: 'assistant', content: say(2 + (i % 9)) },
          ],
        }),
      );
  }
  return lines;
}

/** Tokenises "elsewhere": copies rows and results as a thread boundary would, and answers late, out of order. */
function remote(
  opts: ValidateOptions & { tokenizer: Tokenizer },
): (rows: readonly DataRow[]) => Promise<RowTokenization[]> {
  const settings = rowTokenizeSettings(file, opts);
  const next = seededRandom(9);
  return async (rows) => {
    const copies = structuredClone(rows);
    await new Promise((r) => setTimeout(r, Math.floor(next() * 5)));
    return structuredClone(copies.map((row) => tokenizeForValidation(row, settings)));
  };
}

async function runValidation(opts: ValidateOptions) {
  const v = new DataValidation(file, opts);
  const examples = [];
  for await (const e of v.examples()) examples.push(e);
  return { examples, summary: v.summary() };
}

describe('DataValidation with tokenizeBatch', () => {
  const variants: [string, Omit<ValidateOptions, 'tokenizer'>][] = [
    ['truncate', { maxLength: 64 }],
    ['drop, duplicates removed', { maxLength: 64, overlength: 'drop', removeDuplicates: true }],
    [
      'train on prompt, default system prompt',
      { maxLength: 96, trainOnPrompt: true, defaultSystemPrompt: 'Be brief.' },
    ],
  ];
  it.each(variants)('gives the same examples and report as tokenising in line (%s)', async (_, variant) => {
    const opts = { ...variant, tokenizer: tok };
    const inline = await runValidation(opts);
    const elsewhere = await runValidation({ ...opts, tokenizeBatch: remote(opts) });
    expect(inline.summary.counts.total).toBeGreaterThan(650); // blank lines are not records
    expect(inline.summary.report.errorCount).toBeGreaterThan(20);
    expect(inline.summary.report.warningCount).toBeGreaterThan(20);
    expect(inline.examples.length).toBeGreaterThan(400);
    expect(elsewhere.summary).toEqual(inline.summary);
    expect(elsewhere.examples).toEqual(inline.examples);
  });

  it('ends with the error when tokenising elsewhere fails', async () => {
    const v = new DataValidation(file, {
      tokenizer: tok,
      tokenizeBatch: async () => {
        throw new Error('worker gone');
      },
    });
    await expect(async () => {
      for await (const _ of v.examples()) {
        // drain
      }
    }).rejects.toThrow('worker gone');
  });
});

describe('DigestTable', () => {
  it('remembers the first line of each digest through growth', async () => {
    const { createHash } = await import('node:crypto');
    const table = new DigestTable(4);
    const digest = (i: number) =>
      createHash('sha256')
        .update(`row ${i % 3000}`)
        .digest();
    for (let i = 0; i < 6000; i++) {
      const first = table.firstOrAdd(digest(i), i + 1);
      expect(first).toBe(i < 3000 ? undefined : (i % 3000) + 1);
    }
    expect(table.size).toBe(3000);
  });
});
