import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type Tokenizer } from '../tokenizer.js';
import type { Finding, FindingKind, ValidationReport } from './report.js';
import { DataValidation, type ValidateOptions, validateDataFile } from './validate.js';

const DATA = fileURLToPath(new URL('./testdata/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../../../../../shared/fixtures/', import.meta.url));

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
});

const run = (file: string, opts: ValidateOptions = {}) => validateDataFile(join(DATA, file), opts);

function only(report: ValidationReport, kind: FindingKind): Finding[] {
  return report.findings.filter((f) => f.kind === kind);
}

describe('validateDataFile: whole-file findings', () => {
  it('EMPTY_FILE for a file without records', async () => {
    const s = await run('empty.jsonl');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'EMPTY_FILE', severity: 'error', line: 0 })]);
    expect(s.report.errorCount).toBe(1);
  });

  it('NOT_UTF8 names the line of a JSONL file and keeps the other lines', async () => {
    const s = await run('latin1.jsonl');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'NOT_UTF8', line: 2 })]);
    expect(s.report.findings[0]?.message).toContain('byte offset 17');
    expect(s.counts).toMatchObject({ total: 3, kept: 2 });
  });

  it('NOT_UTF8 in a CSV file stops at the first bad line', async () => {
    const s = await run('latin1.csv');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'NOT_UTF8', line: 2 })]);
  });

  it('FORMAT_MISMATCH when the content is not the declared container', async () => {
    const s = await run('array-named-jsonl.jsonl');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'FORMAT_MISMATCH', line: 0 })]);
    const csv = await run('records.json', { fileFormat: 'csv' });
    expect(csv.report.findings[0]).toMatchObject({ kind: 'FORMAT_MISMATCH', line: 0 });
  });

  it('FORMAT_MISMATCH for a record in another row format than the first', async () => {
    const s = await run('alpaca-declared-chat.jsonl');
    expect(s.format).toBe('chat');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'FORMAT_MISMATCH', line: 2 })]);
    const declared = await run('alpaca-declared-chat.jsonl', { format: 'alpaca' });
    expect(only(declared.report, 'FORMAT_MISMATCH').map((f) => f.line)).toEqual([1]);
  });
});

describe('validateDataFile: record findings', () => {
  it('MALFORMED_RECORD for invalid JSON, line numbers counting blank lines', async () => {
    const s = await run('malformed.jsonl');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'MALFORMED_RECORD', line: 2 })]);
    expect(s.counts).toMatchObject({ total: 3, kept: 2 });
  });

  it('NOT_AN_OBJECT for arrays and scalars', async () => {
    const s = await run('not-object.jsonl');
    expect(only(s.report, 'NOT_AN_OBJECT').map((f) => f.line)).toEqual([2, 3]);
  });

  it('NOT_AN_OBJECT in a JSON array names the element', async () => {
    const s = await run('records.json');
    expect(s.fileFormat).toBe('json');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'NOT_AN_OBJECT', line: 3 })]);
    expect(s.counts.kept).toBe(3);
  });

  it('MISSING_FIELD names the field', async () => {
    const s = await run('missing-field.jsonl');
    expect(s.report.findings).toEqual([
      expect.objectContaining({ kind: 'MISSING_FIELD', line: 2, field: 'output', message: 'is missing' }),
    ]);
  });

  it('WRONG_TYPE says what was found', async () => {
    const s = await run('wrong-type.jsonl');
    expect(s.report.findings).toEqual([
      expect.objectContaining({
        kind: 'WRONG_TYPE',
        line: 2,
        field: 'text',
        message: 'must be a string, got the number 5',
      }),
    ]);
  });

  it('chat: UNKNOWN_ROLE, ROLES_NOT_ALTERNATING, NO_ASSISTANT_MESSAGE, ALL_LABELS_MASKED, EMPTY_FIELD', async () => {
    const s = await run('chat-problems.jsonl');
    const got = s.report.findings.map((f) => [f.line, f.kind, f.field]);
    expect(got).toEqual([
      [2, 'UNKNOWN_ROLE', 'messages[1].role'],
      [3, 'ROLES_NOT_ALTERNATING', 'messages[1].role'],
      [4, 'NO_ASSISTANT_MESSAGE', 'messages'],
      [5, 'ALL_LABELS_MASKED', 'messages'],
      [6, 'EMPTY_FIELD', 'messages[1].content'],
      [7, 'EMPTY_FIELD', 'messages'],
    ]);
    expect(s.counts).toMatchObject({ total: 7, kept: 1 });
    expect(s.report.errorCount).toBe(6);
  });

  it('pre-tokenised: ALL_LABELS_MASKED, TOKEN_OUT_OF_RANGE with a tokenizer, WRONG_TYPE for a fraction', async () => {
    const s = await run('pretokenized.jsonl', { tokenizer: tok });
    expect(s.report.findings.map((f) => [f.line, f.kind, f.field])).toEqual([
      [2, 'ALL_LABELS_MASKED', 'labels'],
      [3, 'TOKEN_OUT_OF_RANGE', 'input_ids[2]'],
      [4, 'WRONG_TYPE', 'input_ids[1]'],
    ]);
  });

  it('DUPLICATE: counted as warnings, removed on request', async () => {
    const kept = await run('duplicates.jsonl');
    expect(only(kept.report, 'DUPLICATE')).toEqual([
      expect.objectContaining({ line: 3, severity: 'warning', message: 'duplicates line 1' }),
      expect.objectContaining({ line: 4, severity: 'warning' }),
    ]);
    expect(kept.counts).toMatchObject({ total: 4, kept: 4, duplicates: 2, dropped: 0 });
    expect(kept.report.errorCount).toBe(0);
    const removed = await run('duplicates.jsonl', { removeDuplicates: true });
    expect(removed.counts).toMatchObject({ total: 4, kept: 2, duplicates: 2, dropped: 2 });
  });

  it('classification (IMDB-like): UNKNOWN_LABEL and EMPTY_FIELD, label balance of the kept rows', async () => {
    const s = await run('sentiment.jsonl', {
      tokenizer: tok,
      template: {
        classification: { template: 'Review: {text}\nSentiment:', labelWords: { '0': ' negative', '1': ' positive' } },
      },
    });
    expect(s.format).toBe('classification');
    expect(s.report.findings.map((f) => [f.line, f.kind, f.field])).toEqual([
      [5, 'UNKNOWN_LABEL', 'label'],
      [6, 'EMPTY_FIELD', 'text'],
    ]);
    expect(s.labelCounts).toEqual({ '0': 2, '1': 2 });
    // Loss only on the label word: a handful of tokens per example out of the whole prompt.
    expect(s.lengths?.lossTokenFraction).toBeGreaterThan(0);
    expect(s.lengths?.lossTokenFraction).toBeLessThan(0.5);
  });
});

describe('validateDataFile: lengths and templates', () => {
  it('TOO_LONG truncates by default and drops on request', async () => {
    const t = await run('long.jsonl', { tokenizer: tok, maxLength: 8 });
    expect(t.report.findings).toEqual([expect.objectContaining({ kind: 'TOO_LONG', line: 2, severity: 'warning' })]);
    expect(t.counts).toMatchObject({ kept: 2, truncated: 1, dropped: 0 });
    expect(t.lengths?.maxLength).toBeGreaterThan(8); // before truncation
    expect(t.lengths?.p95Length).toBeLessThanOrEqual(8);
    const d = await run('long.jsonl', { tokenizer: tok, maxLength: 8, overlength: 'drop' });
    expect(d.counts).toMatchObject({ kept: 1, truncated: 0, dropped: 1 });
  });

  it('ALL_LABELS_MASKED (warning, dropped) when truncation cuts the whole completion', async () => {
    const file = join(tmpdir(), `tm-validate-${process.pid}-alpaca.jsonl`);
    await writeFile(
      file,
      `${JSON.stringify({ instruction: 'Write a very long instruction with many words in it', output: 'ok' })}\n`,
    );
    const s = await validateDataFile(file, { tokenizer: tok, maxLength: 6 });
    expect(only(s.report, 'ALL_LABELS_MASKED')).toEqual([expect.objectContaining({ severity: 'warning', line: 1 })]);
    expect(s.counts).toMatchObject({ kept: 0, dropped: 1 });
  });

  it('column mapping turns other field names into a format', async () => {
    const s = await run('prompts.jsonl', { mapping: { instruction: 'prompt', output: 'completion' } });
    expect(s.format).toBe('alpaca');
    expect(s.report.findings).toEqual([]);
    expect(s.counts.kept).toBe(2);
  });

  it('streams kept examples with their tokens and a stable key', async () => {
    const v = new DataValidation(join(DATA, 'duplicates.jsonl'), { tokenizer: tok });
    const out = [];
    for await (const e of v.examples()) out.push(e);
    expect(out.map((e) => e.line)).toEqual([1, 2, 3, 4]);
    expect(out[0]?.key).toBe(out[2]?.key);
    expect(out[0]?.key).not.toBe(out[1]?.key);
    expect(out[0]?.tokens?.input_ids.length).toBeGreaterThan(0);
  });
});

describe('validateDataFile: CSV', () => {
  it('chat messages as JSON text in a cell; a cell that is not JSON is MALFORMED_RECORD', async () => {
    const s = await run('chat.csv');
    expect(s.format).toBe('chat');
    expect(s.report.findings).toEqual([
      expect.objectContaining({ kind: 'MALFORMED_RECORD', line: 4, field: 'messages' }),
    ]);
    expect(s.counts.kept).toBe(2);
  });

  it('a record with the wrong column count is MALFORMED_RECORD with its line; reading goes on', async () => {
    const s = await run('malformed.csv');
    expect(s.report.findings).toEqual([expect.objectContaining({ kind: 'MALFORMED_RECORD', line: 3 })]);
    expect(s.counts.kept).toBe(2);
  });

  it('the IMDB shape with mapped columns is classification data', async () => {
    const s = await run('sentiment.csv', { mapping: { text: 'review', label: 'sentiment' } });
    expect(s.format).toBe('classification');
    expect(s.report.findings).toEqual([]);
    expect(s.labelCounts).toEqual({ '0': 1, '1': 1 });
  });
});

describe('report limits', () => {
  it('lists the first 100 findings and counts all', async () => {
    const file = join(tmpdir(), `tm-validate-${process.pid}-many.jsonl`);
    await writeFile(
      file,
      `${Array.from({ length: 150 }, (_, i) => (i === 0 ? '{"text":"ok"}' : '{"text": 1}')).join('\n')}\n`,
    );
    const s = await validateDataFile(file);
    expect(s.report.findings).toHaveLength(100);
    expect(s.report.totals).toEqual([{ kind: 'WRONG_TYPE', severity: 'error', count: 149 }]);
    expect(s.report.findingsTruncated).toBe(true);
    expect(s.report.findings[99]?.line).toBe(101);
  });
});

describe('default system prompt', () => {
  it('is added to chat rows without one, and counts in the duplicate key', async () => {
    const v = new DataValidation(join(DATA, 'chat-problems.jsonl'), { defaultSystemPrompt: 'Answer briefly.' });
    const rows = [];
    for await (const e of v.examples()) rows.push(e.row);
    expect(rows).toHaveLength(1);
    const first = rows[0];
    expect(first?.format === 'chat' && first.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    // Line 1 already had a system prompt: it is kept, not doubled.
    expect(first?.format === 'chat' && first.messages[0]?.content).toBe('Be brief.');
    const p = new DataValidation(join(DATA, 'prompts.jsonl'), {
      mapping: { instruction: 'prompt', output: 'completion' },
      defaultSystemPrompt: 'You name things.',
    });
    for await (const e of p.examples()) expect(e.row.format === 'alpaca' && e.row.system).toBe('You name things.');
  });
});
