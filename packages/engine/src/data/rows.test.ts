import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataError } from './errors.js';
import { parseDataRows, readDataRows } from './read-rows.js';
import { parseDataRow } from './rows.js';

const FIXTURES = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rows-'));
});

async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** The DataError a read throws, or a failure when none is thrown. */
async function dataError(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DataError);
  return e as DataError;
}

describe('readDataRows', () => {
  it("reads the fixtures' pre-tokenised rows", async () => {
    const rows = await readDataRows(join(FIXTURES, 'data/tiny-chat.jsonl'), { vocabSize: 320 });
    expect(rows).toHaveLength(4);
    for (const [i, row] of rows.entries()) {
      expect(row.format).toBe('pretokenized');
      expect(row.line).toBe(i + 1);
      if (row.format !== 'pretokenized') continue;
      expect(row.labels).toHaveLength(row.input_ids.length);
    }
    const random = await readDataRows(join(FIXTURES, 'data/tiny-random.jsonl'));
    expect(random.every((r) => r.format === 'pretokenized')).toBe(true);
  });

  it('detects alpaca, chat and text files and keeps optional fields', async () => {
    const alpaca = await readDataRows(
      await file(
        'alpaca.jsonl',
        '{"instruction":"Add","input":"2 and 3","output":"5","system":"Be brief."}\n{"instruction":"Hi","output":"Hello","input":null}\n',
      ),
    );
    expect(alpaca).toEqual([
      { format: 'alpaca', line: 1, instruction: 'Add', input: '2 and 3', output: '5', system: 'Be brief.' },
      { format: 'alpaca', line: 2, instruction: 'Hi', output: 'Hello' },
    ]);
    const chat = await readDataRows(
      await file(
        'chat.jsonl',
        '{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"a","weight":0}]}',
      ),
    );
    expect(chat[0]).toEqual({
      format: 'chat',
      line: 1,
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'a', weight: 0 },
      ],
    });
    // CRLF line ends, a byte-order mark and blank lines, which still count for line numbers.
    const text = await readDataRows(await file('text.jsonl', '\ufeff{"text":"a"}\r\n\r\n  \n{"text":"b"}'));
    expect(text).toEqual([
      { format: 'text', line: 1, text: 'a' },
      { format: 'text', line: 4, text: 'b' },
    ]);
  });

  it('names file, line and field for a row in the wrong format', async () => {
    const path = await file('mixed.jsonl', '{"text":"a"}\n\n{"messages":[{"role":"user","content":"x"}]}\n');
    const e = await dataError(readDataRows(path));
    expect(e.line).toBe(3);
    expect(e.field).toBe('text');
    expect(e.code).toBe('DATA_FIELD_MISSING');
    expect(e.message).toBe(`${path}:3 (field 'text'): is missing`);
  });

  it('rejects a row in no format with the keys it has', async () => {
    const e = await dataError(readDataRows(await file('none.jsonl', '{"prompt":"a","completion":"b"}')));
    expect(e.code).toBe('DATA_FORMAT');
    expect(e.line).toBe(1);
    expect(e.message).toMatch(/no known format.*"prompt", "completion"/);
  });

  it.each([
    ['invalid JSON', '{"text":"a"}\n{"text": "b",}', 'DATA_JSON', 2, undefined],
    ['not an object', '[1,2,3]', 'DATA_NOT_OBJECT', 1, undefined],
    ['labels length', '{"input_ids":[1,2,3],"labels":[1,2]}', 'DATA_LABELS_LENGTH', 1, 'labels'],
    ['id out of vocab', '{"input_ids":[1,2,320]}', 'DATA_TOKEN_ID', 1, 'input_ids[2]'],
    ['fractional id', '{"input_ids":[1,2.5]}', 'DATA_TOKEN_ID', 1, 'input_ids[1]'],
    ['-100 as an input id', '{"input_ids":[-100]}', 'DATA_TOKEN_ID', 1, 'input_ids[0]'],
    ['bad label', '{"input_ids":[1,2],"labels":[-100,-1]}', 'DATA_TOKEN_ID', 1, 'labels[1]'],
    ['empty ids', '{"input_ids":[]}', 'DATA_FIELD_TYPE', 1, 'input_ids'],
    [
      'unknown role',
      '{"messages":[{"role":"user","content":"a"},{"role":"tool","content":"b"}]}',
      'DATA_ROLE',
      1,
      'messages[1].role',
    ],
    ['content type', '{"messages":[{"role":"user","content":["a"]}]}', 'DATA_FIELD_TYPE', 1, 'messages[0].content'],
    [
      'weight',
      '{"messages":[{"role":"assistant","content":"a","weight":0.5}]}',
      'DATA_FIELD_TYPE',
      1,
      'messages[0].weight',
    ],
    ['alpaca output', '{"instruction":"a"}', 'DATA_FIELD_MISSING', 1, 'output'],
    ['alpaca input type', '{"instruction":"a","output":"b","input":3}', 'DATA_FIELD_TYPE', 1, 'input'],
  ])('%s → typed error', async (_name, content, code, line, field) => {
    const e = await dataError(readDataRows(await file('bad.jsonl', content), { vocabSize: 320 }));
    expect(e.code).toBe(code);
    expect(e.line).toBe(line);
    expect(e.field).toBe(field);
    expect(e.message).toContain(`bad.jsonl:${line}`);
  });

  it('rejects an empty file, a missing file and invalid UTF-8', async () => {
    expect((await dataError(readDataRows(await file('empty.jsonl', '\n \n')))).code).toBe('DATA_EMPTY');
    expect((await dataError(readDataRows(join(dir, 'missing.jsonl')))).code).toBe('DATA_IO');
    const bytes = new Uint8Array([...Buffer.from('{"text":"ok"}\n{"text":"'), 0xff, 0xfe, ...Buffer.from('"}\n')]);
    const e = await dataError(readDataRows(await file('latin.jsonl', bytes)));
    expect(e.code).toBe('DATA_ENCODING');
    expect(e.line).toBe(2);
  });

  it('takes the format explicitly, and parses from memory the same as from a file', async () => {
    const content = '{"text":"a","output":"b","instruction":"c"}\n';
    expect((await readDataRows(await file('x.jsonl', content)))[0]?.format).toBe('alpaca');
    expect((await readDataRows(await file('x.jsonl', content), { format: 'text' }))[0]).toEqual({
      format: 'text',
      line: 1,
      text: 'a',
    });
    expect(parseDataRows(content, { format: 'text' })).toEqual(parseDataRows(Buffer.from(content), { format: 'text' }));
    expect(() => parseDataRow({ text: 'a' }, 7, { file: 'upload.csv', format: 'chat' })).toThrowError(
      "upload.csv:7 (field 'messages'): is missing",
    );
  });

  it('streams a file larger than one read chunk with correct line numbers', async () => {
    const line = JSON.stringify({ text: 'x'.repeat(1000) });
    const lines = Array.from({ length: 200 }, () => line);
    lines[150] = '{"text": 5}';
    const e = await dataError(readDataRows(await file('big.jsonl', lines.join('\n'))));
    expect(e.line).toBe(151);
    lines[150] = line;
    expect(await readDataRows(await file('big.jsonl', `${lines.join('\n')}\n`))).toHaveLength(200);
  });
});
