import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from './batches.js';
import { DataError } from './errors.js';
import { parseDataRows, readDataRows } from './read-rows.js';

/** Override with FUZZ_SEED=… to explore; a failure prints the seed and case to reproduce it. */
const SEED = Number(process.env.FUZZ_SEED ?? 20240613);
const CASES = 1500;
const VOCAB = 320;

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

/** Values of every JSON type, including the awkward ones. */
function junk(r: Rand, depth = 0): unknown {
  const kinds = depth > 3 ? 6 : 8;
  switch (int(r, kinds)) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 2, -100, 320, 3.0000001, -0]);
    case 3:
      return pick(r, ['', 'x', '3', '\u0000', '日本', 'a'.repeat(100)]);
    case 4:
      return [];
    case 5:
      return {};
    case 6:
      return Array.from({ length: int(r, 4) }, () => junk(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: int(r, 4) }, (_, i) => [
          pick(r, ['role', 'content', 'text', `k${i}`]),
          junk(r, depth + 1),
        ]),
      );
  }
}

/** A valid row of each format, the base that a mutation breaks. */
const VALID: Record<string, () => Record<string, unknown>> = {
  pretokenized: () => ({ input_ids: [318, 72, 105, 319], labels: [-100, -100, 105, 319] }),
  chat: () => ({
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ],
  }),
  alpaca: () => ({ instruction: 'Add', input: '2 and 3', output: '5' }),
  text: () => ({ text: 'hello' }),
};

/**
 * A number literal JSON.stringify cannot write (1e400 overflows to Infinity, 2^53+1 rounds): stored as a
 * marker string and spliced into the text as written.
 */
const raw = (literal: string): string => `@@raw:${literal}@@`;
const unraw = (json: string): string => json.replace(/"@@raw:([^@]*)@@"/g, '$1');
const HUGE = [raw('1e400'), raw('-1e400'), raw('9007199254740993'), raw('123456789012345678901234567890'), 1e308];

type Row = Record<string, unknown>;
type Mutation = [kind: string, mutate: (row: Row, r: Rand) => void];

const message = (row: Row, i: number): Row => (row.messages as Row[])[i] as Row;

const PRETOKENIZED: Mutation[] = [
  ['ids-type', (o, r) => (o.input_ids = pick(r, [{}, '1,2', 5, null, true]))],
  [
    'ids-element',
    (o, r) => ((o.input_ids as unknown[])[int(r, 4)] = pick(r, [1.5, '3', null, true, [], {}, -1, -100, 320, 1e21])),
  ],
  ['ids-huge', (o, r) => ((o.input_ids as unknown[])[int(r, 4)] = pick(r, HUGE))],
  ['ids-empty', (o) => (o.input_ids = [])],
  ['ids-junk', (o, r) => (o.input_ids = [...Array.from({ length: int(r, 5) }, () => junk(r)), {}])],
  ['labels-length', (o, r) => (o.labels = Array.from({ length: pick(r, [0, 1, 3, 5, 100]) }, () => -100))],
  ['labels-element', (o, r) => ((o.labels as unknown[])[int(r, 4)] = pick(r, [-101, -99.5, '2', null, 320, {}]))],
  ['labels-huge', (o, r) => ((o.labels as unknown[])[int(r, 4)] = pick(r, HUGE))],
  ['labels-type', (o, r) => (o.labels = pick(r, ['-100', 7, {}, true]))],
];
const CHAT: Mutation[] = [
  ['messages-type', (o, r) => (o.messages = pick(r, [{}, 'hi', 3, null]))],
  ['messages-empty', (o) => (o.messages = [])],
  ['message-not-object', (o, r) => ((o.messages as unknown[])[int(r, 2)] = pick(r, ['user: hi', 1, null, []]))],
  ['unknown-role', (o, r) => (message(o, int(r, 2)).role = pick(r, ['tool', 'User', 'bot', '', 'function']))],
  ['role-type', (o, r) => (message(o, int(r, 2)).role = pick(r, [1, null, ['user'], {}]))],
  ['role-missing', (o, r) => delete message(o, int(r, 2)).role],
  ['content', (o, r) => (message(o, int(r, 2)).content = pick(r, [undefined, null, 5, [{ type: 'text' }], {}]))],
  ['weight', (o, r) => (message(o, 1).weight = pick(r, [2, 0.5, '1', true, -1, raw('1e400')]))],
  ['messages-junk', (o, r) => (o.messages = [junk(r), { role: 'user' }])],
];
const ALPACA: Mutation[] = [
  ['missing', (o, r) => delete o[pick(r, ['instruction', 'output'])]],
  [
    'field-type',
    (o, r) => (o[pick(r, ['instruction', 'output', 'input', 'system'])] = pick(r, [1, [], {}, true, ['a']])),
  ],
];
const TEXT: Mutation[] = [
  ['text-type', (o, r) => (o.text = pick(r, [null, 1, [], { text: 'a' }, true, raw('1e400')]))],
];
const MUTATIONS: Record<string, Mutation[]> = { pretokenized: PRETOKENIZED, chat: CHAT, alpaca: ALPACA, text: TEXT };

/** Malformed lines whatever the file's format. */
function structural(r: Rand, format: string): { kind: string; text: string } {
  const good = JSON.stringify((VALID[format] as () => unknown)());
  const other = pick(
    r,
    Object.keys(VALID).filter((k) => k !== format),
  );
  const cases: [string, () => string][] = [
    // Broken JSON: truncation, trailing commas, bare words, NaN, single quotes, two objects on one line.
    [
      'invalid-json',
      () =>
        pick(r, [
          good.slice(0, Math.max(1, int(r, good.length))),
          `${good.slice(0, -1)},}`,
          'NaN',
          "{'text': 'x'}",
          `${good}${good}`,
          '{"input_ids": [1, 2,, 3]}',
          '{"text": "unterminated}',
          '}',
        ]),
    ],
    ['not-object', () => JSON.stringify(pick(r, [[1, 2], 5, 'str', null, true, [{ text: 'a' }]]))],
    ['deep-nesting', () => `{"text": ${'['.repeat(5000 + int(r, 30000))}${r() < 0.3 ? '' : ']'.repeat(5000)}}`],
    [
      'deep-valid-nesting',
      () => `{"${pick(r, ['input_ids', 'messages', 'text', 'instruction'])}": ${'['.repeat(3000)}${']'.repeat(3000)}}`,
    ],
    ['no-format', () => JSON.stringify(pick(r, [{}, { prompt: 'a' }, { label: 1 }, { Text: 'x' }]))],
    ['wrong-format', () => JSON.stringify((VALID[other] as () => unknown)())],
  ];
  const [kind, make] = pick(r, cases);
  return { kind, text: make() };
}

/** One malformed line (as text) for a file whose earlier rows are of `format`. */
function malformedLine(r: Rand, format: string): { kind: string; text: string } {
  if (r() < 0.35) return structural(r, format);
  const [kind, mutate] = pick(r, MUTATIONS[format] as Mutation[]);
  const row = (VALID[format] as () => Row)();
  mutate(row, r);
  return { kind, text: unraw(JSON.stringify(row)) };
}

function generate(seed: number, i: number): { kind: string; content: string; badLine: number } {
  const r = seededRandom(seed ^ Math.imul(i + 1, 0x9e3779b1));
  const format = pick(r, Object.keys(VALID));
  const lines: string[] = [];
  for (let k = int(r, 4); k > 0; k--) lines.push(r() < 0.2 ? '' : JSON.stringify((VALID[format] as () => unknown)()));
  const { kind, text } = malformedLine(r, format);
  // A row is only "the wrong format" after an earlier row has set the file's format.
  if (kind === 'wrong-format' && !lines.some((l) => l !== ''))
    lines.push(JSON.stringify((VALID[format] as () => unknown)()));
  const badLine = lines.length + 1;
  lines.push(text);
  if (r() < 0.5) lines.push(JSON.stringify((VALID[format] as () => unknown)()));
  return { kind: `${format}/${kind}`, content: lines.join(r() < 0.3 ? '\r\n' : '\n'), badLine };
}

describe(`data row fuzz (seed ${SEED})`, () => {
  it(`${CASES} malformed files each end in a DataError naming the bad line`, () => {
    const kinds = new Map<string, number>();
    const started = Date.now();
    for (let i = 0; i < CASES; i++) {
      const c = generate(SEED, i);
      const where = `seed ${SEED} case ${i} (${c.kind}): ${JSON.stringify(c.content.slice(0, 300))}`;
      let error: unknown;
      try {
        parseDataRows(c.content, { vocabSize: VOCAB, name: 'fuzz.jsonl' });
      } catch (e) {
        error = e;
      }
      expect(error, where).toBeInstanceOf(DataError);
      const e = error as DataError;
      expect(e.line, `${where}\n${e.message}`).toBe(c.badLine);
      expect(e.message.startsWith(`fuzz.jsonl:${c.badLine}`), where).toBe(true);
      expect(e.message.length, where).toBeLessThan(1000); // no echo of huge inputs
      kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
    }
    expect(Date.now() - started).toBeLessThan(20_000); // no pathological slowness (a hang would time out)
    // Every mutation family was exercised.
    expect(kinds.size).toBeGreaterThanOrEqual(30);
  });

  it('the streaming file reader gives the same errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fuzz-'));
    for (let i = 0; i < 60; i++) {
      const c = generate(SEED + 1, i);
      const path = join(dir, `case-${i}.jsonl`);
      await writeFile(path, c.content);
      const fromFile = await readDataRows(path, { vocabSize: VOCAB }).then(
        () => undefined,
        (e: unknown) => e,
      );
      let fromMemory: unknown;
      try {
        parseDataRows(c.content, { vocabSize: VOCAB, name: path });
      } catch (e) {
        fromMemory = e;
      }
      const where = `seed ${SEED + 1} case ${i} (${c.kind})`;
      expect((fromFile as Error | undefined)?.message, where).toBe((fromMemory as Error | undefined)?.message);
      if (fromFile !== undefined) expect(fromFile, where).toBeInstanceOf(DataError);
    }
  });
});
