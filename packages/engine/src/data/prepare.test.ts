import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataError } from './errors.js';
import { prepareTrainingRows, splitRows } from './prepare.js';
import { readDataRows } from './read-rows.js';
import { type DataRow, detectFormat, IGNORE_INDEX, parseDataRow } from './rows.js';
import { tokenizeRow } from './tokenize-rows.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

const FIXTURES = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));
const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));
const IMDB = { template: 'Review: {text}\nSentiment:', labelWords: { '0': ' negative', '1': ' positive' } };

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
});

const scored = (ids: number[], labels: number[]) => tok.decode(ids.filter((_, k) => labels[k] !== IGNORE_INDEX));

describe('classification rows', () => {
  it('are detected by {text, label} and validated', () => {
    expect(detectFormat({ text: 'x', label: 1 })).toBe('classification');
    expect(detectFormat({ text: 'x' })).toBe('text');
    expect(parseDataRow({ text: 'x', label: 'pos' }, 3, { file: 'f' })).toEqual({
      format: 'classification',
      line: 3,
      text: 'x',
      label: 'pos',
    });
    expect(() => parseDataRow({ text: 'x', label: 1.5 }, 7, { file: 'f.jsonl' })).toThrow(
      /^f\.jsonl:7 \(field 'label'\): must be a non-empty string or an integer/,
    );
    expect(() => parseDataRow({ text: 'x', label: 1 }, 2, { file: 'f', format: 'classification' })).not.toThrow();
  });

  it('score only the label word, after the rendered template', () => {
    const row: DataRow = { format: 'classification', line: 1, text: 'Great fun.', label: 1 };
    const t = tokenizeRow(row, tok, { classification: IMDB });
    expect(tok.decode(t.input_ids)).toBe('Review: Great fun.\nSentiment: positive');
    expect(scored(t.input_ids, t.labels)).toBe(' positive');
    const d = tokenizeRow(row, tok);
    expect(tok.decode(d.input_ids)).toBe('Great fun.\nLabel: 1');
    expect(() => tokenizeRow({ ...row, label: 2 }, tok, { classification: IMDB, file: 'r.jsonl' })).toThrow(
      /^r\.jsonl:1 \(field 'label'\): label 2 has no label word \(label words are given for "0", "1"\)/,
    );
    expect(() => tokenizeRow(row, tok, { classification: { template: 'no slot' } })).toThrow(/\{text\} exactly once/);
  });

  it('keep the label when truncated, cutting the end of the text', () => {
    const row: DataRow = { format: 'classification', line: 1, text: `${'a'.repeat(10)} long review text`, label: 0 };
    const full = tokenizeRow(row, tok, { classification: IMDB });
    const t = tokenizeRow(row, tok, { classification: IMDB, maxLength: full.input_ids.length - 4 });
    expect(t.truncated).toBe(true);
    expect(t.input_ids).toHaveLength(full.input_ids.length - 4);
    expect(scored(t.input_ids, t.labels)).toBe(' negative');
    expect(tok.decode(t.input_ids)).toMatch(/^Review: a+.*\nSentiment: negative$/);
    expect(tok.decode(t.input_ids)).not.toContain('text');
  });
});

describe('prepareTrainingRows', () => {
  it('counts truncated rows and drops rows left without loss', async () => {
    const rows = await readDataRows(join(TESTDATA, 'chat.jsonl'));
    const all = prepareTrainingRows(rows, tok, { file: 'chat.jsonl' });
    expect(all.rows).toHaveLength(rows.length);
    expect(all.truncated + all.dropped).toBe(0);
    const lengths = all.rows.map((r) => r.input_ids.length).sort((a, b) => a - b);
    // A limit between the shortest and longest row: the longest rows lose their (final) answer.
    const max = lengths[Math.floor(lengths.length / 2)] as number;
    const cut = prepareTrainingRows(rows, tok, { file: 'chat.jsonl', maxLength: max - 2 });
    const over = lengths.filter((n) => n > max - 2).length;
    expect(cut.truncated).toBe(over);
    expect(cut.dropped).toBeGreaterThan(0);
    expect(cut.rows.length + cut.dropped).toBe(rows.length);
    for (const r of cut.rows) {
      expect(r.input_ids.length).toBeLessThanOrEqual(max - 2);
      expect(r.labels.slice(1).some((l) => l !== IGNORE_INDEX)).toBe(true);
    }
  });

  it('fails with a typed error naming the file when nothing is left', async () => {
    const rows = await readDataRows(join(TESTDATA, 'chat.jsonl'));
    let err: unknown;
    try {
      prepareTrainingRows(rows, tok, { file: 'chat.jsonl', maxLength: 3 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('DATA_EMPTY');
    expect((err as DataError).message).toMatch(
      /^chat\.jsonl: after truncation to 3 tokens no row .* \(20 dropped, 20 truncated\)/,
    );
  });
});

describe('splitRows', () => {
  it('is seeded, disjoint, complete and keeps file order', () => {
    const rows = Array.from({ length: 40 }, (_, i) => i);
    const a = splitRows(rows, 0.1, 7);
    expect(a.val).toHaveLength(4);
    expect(a.train).toHaveLength(36);
    expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(rows);
    expect(a.val).toEqual([...a.val].sort((x, y) => x - y));
    expect(splitRows(rows, 0.1, 7)).toEqual(a);
    expect(splitRows(rows, 0.1, 8).val).not.toEqual(a.val);
    expect(splitRows([1, 2], 0.01, 0).val).toHaveLength(1);
    expect(() => splitRows(rows, 1, 0)).toThrow(/in \(0, 1\)/);
    expect(() => splitRows([1], 0.5, 0)).toThrow(/cannot split 1 row/);
  });
});
