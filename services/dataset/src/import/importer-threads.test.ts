// An import tokenised in worker threads stores exactly what one tokenised on the calling thread stores: the
// same examples.jsonl and split.json bytes, the same counts, statistics and report.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@tunemesh/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtefactStore } from '../store/artefacts.js';
import { openDatabase } from '../store/db.js';
import { DatasetRecords } from '../store/records.js';
import { ARTEFACTS, Importer, type ImporterDeps } from './importer.js';
import type { ImportSettings } from './settings.js';
import { stageCopy } from './staging.js';
import { TokenizePool } from './tokenize-pool.js';

const MODEL = fileURLToPath(new URL('../../../../../shared/fixtures/models/tiny-qwen2', import.meta.url));

let dir: string;
let source: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tm-import-threads-'));
  source = join(dir, 'chat.jsonl');
  const next = seededRandom(3);
  const words = 'the of and to in is was that for on with as by at from this be are it'.split(' ');
  const say = (k: number) => Array.from({ length: k }, () => words[Math.floor(next() * words.length)]).join(' ');
  const lines: string[] = [];
  for (let i = 0; i < 1500; i++) {
    const r = next();
    if (r < 0.02) lines.push('{"messages": ');
    else if (r < 0.06 && lines.length > 0) lines.push(lines[Math.floor(next() * lines.length)] as string);
    else if (r < 0.1)
      lines.push(
        JSON.stringify({
          messages: [
            { role: 'user', content: say(70) },
            { role: 'assistant', content: say(40) },
          ],
        }),
      );
    else {
      const messages = [];
      if (next() < 0.3) messages.push({ role: 'system', content: say(5) });
      for (let t = 0; t < 1 + Math.floor(next() * 2); t++) {
        messages.push({ role: 'user', content: say(3 + Math.floor(next() * 20)) });
        messages.push({ role: 'assistant', content: say(3 + Math.floor(next() * 30)) });
      }
      lines.push(JSON.stringify({ messages }));
    }
  }
  await writeFile(source, `${lines.join('\n')}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function importWith(name: string, threads: ImporterDeps['tokenizeThreads'], settings: ImportSettings) {
  const root = join(dir, name);
  const db = await openDatabase({ kind: 'sqlite', path: join(dir, `${name}.sqlite`) });
  try {
    const artefacts = new ArtefactStore(root);
    await artefacts.init();
    const importer = new Importer({ records: new DatasetRecords(db), artefacts, tokenizeThreads: threads });
    const staging = await artefacts.stage();
    const staged = await stageCopy(staging, source, 'source', Number.MAX_SAFE_INTEGER);
    const { record } = await importer.run({ staging, source: { ...staged, name: 'chat.jsonl' } }, settings, name);
    const at = artefacts.dir(record.contentSha256);
    return {
      record,
      examples: await readFile(join(at, ARTEFACTS.examples), 'utf8').catch(() => ''),
      split: await readFile(join(at, ARTEFACTS.split), 'utf8').catch(() => ''),
    };
  } finally {
    await db.destroy();
  }
}

describe('import tokenised in worker threads', () => {
  it('stores the same bytes, counts, statistics and report as on the calling thread', async () => {
    const settings: ImportSettings = {
      template: {},
      split: { kind: 'fraction', fraction: 0.1 },
      seed: 42,
      tokenizer: { ref: 'tiny-qwen2', dir: MODEL },
      maxLength: 96,
      overlength: 'truncate',
      removeDuplicates: false,
    };
    const inline = await importWith('inline', { threads: 0 }, settings);
    const threaded = await importWith('threaded', { threads: 2, minBytes: 0 }, settings);
    // The bad lines fail the import; its report and statistics are still complete and must agree.
    expect(inline.record.report.errorCount).toBeGreaterThan(10);
    expect(inline.record.report.warningCount).toBeGreaterThan(10); // duplicates, too long
    expect(inline.record.rows.kept).toBeGreaterThan(1300);
    const strip = (r: typeof inline.record) => ({ ...r, id: '', name: '', createdAt: 0, completedAt: 0 });
    expect(strip(threaded.record)).toEqual(strip(inline.record));

    const clean = { ...settings, removeDuplicates: true, overlength: 'drop' as const };
    const a = await importWith('inline-2', { threads: 0 }, clean);
    const b = await importWith('threaded-2', { threads: 2, minBytes: 0 }, clean);
    expect(strip(b.record)).toEqual(strip(a.record));
    expect(b.examples).toBe(a.examples);
    expect(b.split).toBe(a.split);
  });

  it('fails the batch, not the process, when the tokenizer cannot be loaded in a worker', async () => {
    const pool = new TokenizePool(
      {
        template: {},
        split: { kind: 'none' },
        seed: 1,
        tokenizer: { ref: 'missing', dir: join(dir, 'no-such-model') },
        overlength: 'truncate',
        removeDuplicates: false,
      },
      1,
    );
    try {
      await expect(pool.tokenize('x.jsonl', [{ format: 'text', line: 1, text: 'hello' }])).rejects.toThrow(
        /no-such-model/,
      );
    } finally {
      await pool.close();
    }
  });
});
