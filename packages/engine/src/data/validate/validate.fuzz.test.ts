// Seeded fuzzing of the importers: 1,100 malformed JSONL, CSV and Parquet files (byte flips, cuts, inserted
// bytes, invalid UTF-8, shuffled and duplicated lines) built from valid ones. Each must end in a report or a
// typed DataError within a time limit: never another exception, never a hang.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../batches.js';
import { DataError } from '../errors.js';
import { validateDataFile } from './validate.js';

const tmp = await mkdtemp(join(tmpdir(), 'tm-validate-fuzz-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

const JSONL = Buffer.from(
  [
    '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}',
    '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "weight": 1}]}',
    '{"instruction": "Add", "input": "2 and 2", "output": "4"}',
    '{"text": "plain words", "label": 1}',
    '{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}',
  ].join('\n'),
);
const CSV = Buffer.from('text,label\n"A dull, slow story",0\nGreat acting,1\n"He said ""wow""",1\n"multi\nline",0\n');
const PARQUET = Buffer.from(
  parquetWriteBuffer({
    columnData: [
      { name: 'text', data: ['one', 'two', 'three', 'four', 'five', 'six'], type: 'STRING' },
      { name: 'label', data: [0n, 1n, 0n, 1n, 0n, 1n], type: 'INT64' },
    ],
    rowGroupSize: 3,
  }),
);

type Mutation = (b: Buffer, next: () => number) => Buffer;
const at = (b: Buffer, next: () => number) => Math.floor(next() * Math.max(1, b.length));
const MUTATIONS: Mutation[] = [
  (b, n) => {
    const c = Buffer.from(b);
    for (let k = 0; k < 1 + Math.floor(n() * 4); k++) c[at(c, n)] = Math.floor(n() * 256);
    return c;
  },
  (b, n) => b.subarray(0, at(b, n)),
  (b, n) => {
    const i = at(b, n);
    const junk = Buffer.from(Array.from({ length: 1 + Math.floor(n() * 16) }, () => Math.floor(n() * 256)));
    return Buffer.concat([b.subarray(0, i), junk, b.subarray(i)]);
  },
  (b, n) => {
    const i = at(b, n);
    return Buffer.concat([b.subarray(0, i), Buffer.from([0xc3, 0x28, 0xff]), b.subarray(i)]);
  },
  (b, n) => {
    const lines = b.toString('latin1').split('\n');
    for (let i = lines.length - 1; i > 0; i--) {
      const j = Math.floor(n() * (i + 1));
      [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
    }
    if (n() < 0.5) lines.push(lines[0] ?? '', '[[[[[[[[[[', '{"messages": 5}', '');
    return Buffer.from(lines.join('\n'), 'latin1');
  },
  (b, n) => {
    const i = at(b, n);
    const len = Math.floor(n() * 8);
    return Buffer.concat([b.subarray(0, i), b.subarray(i + len)]);
  },
];

const LIMIT_MS = 5_000;

async function outcome(file: string): Promise<'report' | 'typed-error'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${file} took over ${LIMIT_MS} ms`)), LIMIT_MS);
  });
  try {
    const s = await Promise.race([validateDataFile(file), hang]);
    expect(s.report.errorCount + s.report.warningCount + s.counts.kept).toBeGreaterThan(0);
    return 'report';
  } catch (err) {
    if (err instanceof DataError) return 'typed-error';
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const CASES: { name: string; base: Buffer; ext: string; count: number; seed: number }[] = [
  { name: 'JSONL', base: JSONL, ext: 'jsonl', count: 400, seed: 11 },
  { name: 'CSV', base: CSV, ext: 'csv', count: 400, seed: 22 },
  { name: 'Parquet', base: PARQUET, ext: 'parquet', count: 300, seed: 33 },
];

describe('importer fuzz', () => {
  for (const c of CASES) {
    it(`${c.count} malformed ${c.name} files each end in a report or a typed error`, async () => {
      const next = seededRandom(c.seed);
      const seen = { report: 0, 'typed-error': 0 };
      for (let i = 0; i < c.count; i++) {
        let b = c.base;
        for (let m = 0; m < 1 + Math.floor(next() * 3); m++) {
          b = (MUTATIONS[Math.floor(next() * MUTATIONS.length)] as Mutation)(b, next);
        }
        const file = join(tmp, `${c.name}-${i}.${c.ext}`);
        await writeFile(file, b);
        try {
          seen[await outcome(file)]++;
        } catch (err) {
          throw new Error(`${c.name} case ${i} (seed ${c.seed}): ${err instanceof Error ? err.stack : String(err)}`);
        }
        await rm(file);
      }
      expect(seen.report + seen['typed-error']).toBe(c.count);
    }, 120_000);
  }
});
