// JSON array files stream element by element: the same records JSON.parse would give (across read chunks,
// multi-byte characters split between them, a byte-order mark), findings for invalid JSON after the elements
// before it, and memory that does not grow with the array.

import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawRecord, readJsonArray } from './sources.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tm-json-array-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function records(name: string, content: string | Uint8Array): Promise<RawRecord[]> {
  const path = join(dir, name);
  await writeFile(path, content);
  const out: RawRecord[] = [];
  for await (const r of readJsonArray(path)) out.push(r);
  return out;
}

describe('readJsonArray', () => {
  it('gives the elements JSON.parse gives, across read chunks and split multi-byte characters', async () => {
    // > 2 MiB, so the 1 MiB read chunks cut elements (and some "é", "😀" and "日本") in two.
    const elements = Array.from({ length: 9000 }, (_, i) =>
      i % 7 === 3
        ? `not an object ${i}`
        : {
            instruction: `${'é😀日本'.repeat(i % 40)} ${i}`,
            output: String(i),
            nested: { k: [i, null, true, 1.5e-3] },
          },
    );
    const text = `\uFEFF \n${JSON.stringify(elements, null, 2)}\n\n`;
    const got = await records('big.json', text);
    expect(got.length).toBe(elements.length);
    expect(got.map((r) => r.line)).toEqual(elements.map((_, k) => k + 1));
    expect(got.map((r) => r.value)).toEqual(JSON.parse(text.slice(1)));
  });

  it('an empty array has no records; a file that is not an array is FORMAT_MISMATCH', async () => {
    expect(await records('empty.json', ' [ ] ')).toEqual([]);
    const scalar = await records('scalar.json', '42');
    expect(scalar).toEqual([{ line: 0, finding: expect.objectContaining({ kind: 'FORMAT_MISMATCH', line: 0 }) }]);
    const broken = await records('broken.json', 'hello');
    expect(broken).toEqual([{ line: 0, finding: expect.objectContaining({ kind: 'MALFORMED_RECORD', line: 0 }) }]);
  });

  it('keeps the elements before invalid JSON and then reports it', async () => {
    const cut = await records('cut.json', '[{"text": "a"}, {"text": "b"}, {"text": ');
    expect(cut.slice(0, 2).map((r) => r.value)).toEqual([{ text: 'a' }, { text: 'b' }]);
    expect(cut[2]?.finding).toMatchObject({ kind: 'MALFORMED_RECORD', line: 0 });
    expect(cut[2]?.finding?.message).toMatch(/^invalid JSON after element 2: /);
    expect(cut).toHaveLength(3);
    const trailing = await records('trailing.json', '[{"text": "a"}] {"text": "b"}');
    expect(trailing.map((r) => r.finding?.kind ?? 'record')).toEqual(['record', 'MALFORMED_RECORD']);
    const comma = await records('comma.json', '[{"text": "a"},]');
    expect(comma.map((r) => r.finding?.kind ?? 'record')).toEqual(['record', 'MALFORMED_RECORD']);
  });

  it('reads a large array in flat memory', async () => {
    // ≈ 90 MB of records: holding the text and the parsed array, as JSON.parse must, takes ≈ 165 MiB of heap;
    // streaming holds the young generation's garbage (≈ 50 MiB at most, measured) and nothing more.
    const path = join(dir, 'large.json');
    const out = createWriteStream(path);
    const filler = 'lorem ipsum dolor sit amet '.repeat(12);
    out.write('[');
    for (let i = 0; i < 250_000; i++) {
      const line = `${i === 0 ? '' : ','}\n${JSON.stringify({ text: `${filler}${i}`, label: i % 2 })}`;
      if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    out.write(']\n');
    await new Promise<void>((r) => out.end(() => r()));
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let n = 0;
    for await (const r of readJsonArray(path)) {
      if (r.value === undefined) throw new Error(`unexpected finding: ${r.finding?.message}`);
      if (++n % 5000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - base);
    }
    expect(n).toBe(250_000);
    expect(peak).toBeLessThan(96 * 2 ** 20);
  });
});
