import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { validateDataFile } from './validate.js';

const tmp = await mkdtemp(join(tmpdir(), 'tm-parquet-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

const chat = (user: string, reply: string) =>
  JSON.stringify([
    { role: 'user', content: user },
    { role: 'assistant', content: reply },
  ]);

describe('Parquet files', () => {
  it('reads classification rows (int64 labels) and names bad rows', async () => {
    const file = join(tmp, 'sentiment.parquet');
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'text', data: ['A dull story.', 'Great acting.', ''], type: 'STRING' },
        { name: 'label', data: [0n, 1n, 1n], type: 'INT64' },
      ],
    });
    const s = await validateDataFile(file);
    expect(s.fileFormat).toBe('parquet');
    expect(s.format).toBe('classification');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'EMPTY_FIELD', line: 3, field: 'text' })]);
    expect(s.labelCounts).toEqual({ '0': 1, '1': 1 });
  });

  it('reads chat messages from a JSON text column', async () => {
    const file = join(tmp, 'chat.parquet');
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'messages', data: [chat('Hi', 'Hello'), chat('Bye', 'See you'), '[{"role":"bot"'], type: 'STRING' },
      ],
    });
    const s = await validateDataFile(file);
    expect(s.format).toBe('chat');
    expect(s.counts.kept).toBe(2);
    expect(s.report.findings).toEqual([
      expect.objectContaining({ kind: 'MALFORMED_RECORD', line: 3, field: 'messages' }),
    ]);
  });

  it('a file cut short is one whole-file finding, not a crash', async () => {
    const good = join(tmp, 'good.parquet');
    parquetWriteFile({ filename: good, columnData: [{ name: 'text', data: ['one', 'two'], type: 'STRING' }] });
    const bytes = await readFile(good);
    const cut = join(tmp, 'cut.parquet');
    await writeFile(cut, bytes.subarray(0, bytes.length - 9));
    const s = await validateDataFile(cut);
    expect(s.report.errorCount).toBeGreaterThan(0);
    expect(s.report.findings[0]).toMatchObject({ kind: 'MALFORMED_RECORD', line: 0 });
    expect(s.report.findings[0]?.message).toMatch(/not a readable Parquet file/);
  });

  it('a .parquet name on JSON content is FORMAT_MISMATCH', async () => {
    const file = join(tmp, 'fake.parquet');
    await writeFile(file, '{"text": "not parquet"}\n');
    const s = await validateDataFile(file);
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'FORMAT_MISMATCH', line: 0 })]);
  });
});
