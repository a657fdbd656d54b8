// The piece-wise span finder of tokenize-rows (encode each piece between added tokens once, and only the
// piece a boundary falls in) must give byte-for-byte the ids and labels of the reference method (encode the
// whole text, and the whole text before every boundary). Checked over every fixture tokenizer, generated tiny
// tokenizers and variants with a normaliser, on a few hundred seeded rows of every text format; tokenizers
// where the shortcut would be wrong (added tokens that strip whitespace, Metaspace "first") must not use it.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTokenizerFiles } from '../tiny/tokenizer.js';
import { piecewiseObstacle } from './added-token-split.js';
import { seededRandom } from './batches.js';
import type { ChatMessage, DataRow } from './rows.js';
import { type TokenizeRowsOptions, tokenizeRow } from './tokenize-rows.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

const FIXTURES = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));
const FIXTURE_MODELS = ['tiny-qwen2', 'tiny-llama', 'tiny-gpt2', 'tiny-qwen2-bf16'];

type Json = Record<string, unknown>;

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'tm-pieces-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function writeTokenizer(name: string, tokenizer: Json, config: Json): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return dir;
}

async function fixtureFiles(model: string): Promise<{ tokenizer: Json; config: Json }> {
  const dir = join(FIXTURES, 'models', model);
  return {
    tokenizer: JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Json,
    config: JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Json,
  };
}

/** The same tokenizer without `pieces`, so tokenize-rows takes the reference path. */
function referenceOf(tok: Tokenizer): Tokenizer {
  const ref = Object.create(tok) as Tokenizer;
  Object.defineProperty(ref, 'pieces', { value: undefined });
  return ref;
}

const FRAGMENTS = [
  'the',
  'of and to',
  'Hello there',
  'héllo wörld',
  'naïve café',
  '😀👍🏽',
  '你好世界',
  '  ',
  '\n',
  '\n\n',
  '\t',
  ' 12345',
  '3.14',
  "it's",
  '<|im_end|>',
  '<|im_start|>',
  '<|endoftext|>',
  '<|im_',
  'end|>',
  '|>',
  '<',
  '?',
  '!!',
  ' ',
  'then over',
  'ABC def',
  ' answer',
  'ans',
];

function sentence(next: () => number, min: number, max: number): string {
  const k = min + Math.floor(next() * (max - min));
  let s = '';
  for (let i = 0; i < k; i++) {
    const f = FRAGMENTS[Math.floor(next() * FRAGMENTS.length)] as string;
    s += next() < 0.5 ? ` ${f}` : f;
  }
  return s;
}

/** Chat templates beyond the tokenizer's own: one that trims and adds a system prompt, one that drops past replies. */
const TEMPLATES = [
  undefined,
  "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nDefault.<|im_end|>\\n' }}{% endif %}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] | trim + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}{{ '<|im_start|>assistant\\n(earlier)<|im_end|>' }}{% else %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>' }}{% endif %}",
  "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '<|endoftext|>' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}",
];

const CLASSIFICATION_TEMPLATES = [
  '{text}\nLabel:',
  '<|im_start|>{text}<|im_end|>',
  'Review: {text}end|>\nSentiment:',
  '{text}wer:',
  '{text}',
];

/** A few hundred seeded rows of every text format, each with the options it is tokenised with. */
function rows(seed: number, n: number): { row: DataRow; opts: TokenizeRowsOptions }[] {
  const next = seededRandom(seed);
  const out: { row: DataRow; opts: TokenizeRowsOptions }[] = [];
  for (let i = 0; i < n; i++) {
    const line = i + 1;
    const maxLength = next() < 0.25 ? 8 + Math.floor(next() * 40) : undefined;
    const kind = next();
    if (kind < 0.55) {
      const messages: ChatMessage[] = [];
      if (next() < 0.4) messages.push({ role: 'system', content: sentence(next, 0, 6) });
      const turns = 1 + Math.floor(next() * 3);
      for (let t = 0; t < turns; t++) {
        messages.push({ role: 'user', content: sentence(next, 0, 8) });
        const m: ChatMessage = { role: 'assistant', content: sentence(next, 1, 10) };
        if (next() < 0.15) m.weight = 0;
        messages.push(m);
        // Validation rejects it, but tokenizeRow takes it: two replies in a row render the same leading
        // messages with and without the generation prompt.
        if (next() < 0.1) messages.push({ role: 'assistant', content: sentence(next, 1, 4) });
      }
      const chatTemplate = TEMPLATES[Math.floor(next() * TEMPLATES.length)];
      out.push({ row: { format: 'chat', line, messages }, opts: { maxLength, chatTemplate } });
    } else if (kind < 0.75) {
      // The last two prompts end inside an added token that the output completes: a boundary inside it.
      const k = Math.floor(next() * 5);
      const template = (
        [
          'alpaca',
          'chat',
          (r: { instruction: string }) => `Q: ${r.instruction}\nA:`,
          (r: { instruction: string }) => `Q: ${r.instruction} ans`,
          (r: { instruction: string }) => `Q: ${r.instruction}<|im_`,
        ] as const
      )[k];
      const lead = k === 3 ? 'wer' : k === 4 ? 'end|>' : '';
      const row: DataRow = {
        format: 'alpaca',
        line,
        instruction: sentence(next, 1, 6),
        output: `${lead}${sentence(next, 1, 8)}`,
      };
      if (next() < 0.5) row.input = sentence(next, 0, 4);
      if (next() < 0.3) row.system = sentence(next, 1, 4);
      out.push({ row, opts: { maxLength, template, appendEos: next() < 0.7 } });
    } else if (kind < 0.92) {
      const template = CLASSIFICATION_TEMPLATES[Math.floor(next() * CLASSIFICATION_TEMPLATES.length)];
      // Texts that end in the first part of an added token the template completes: a boundary inside it.
      const cut = next();
      const text = `${sentence(next, 1, 8)}${cut < 0.15 ? '<|im_' : cut < 0.3 ? ' ans' : ''}`;
      out.push({
        row: { format: 'classification', line, text, label: next() < 0.5 ? 0 : 1 },
        opts: { maxLength, classification: { template, labelWords: { '0': ' bad', '1': '<|im_end|> good' } } },
      });
    } else {
      out.push({ row: { format: 'text', line, text: sentence(next, 1, 12) }, opts: { maxLength } });
    }
  }
  return out;
}

function outcome(tok: Tokenizer, row: DataRow, opts: TokenizeRowsOptions): unknown {
  try {
    return tokenizeRow(row, tok, opts);
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

interface Case {
  name: string;
  load: () => Promise<Tokenizer>;
}

const CASES: Case[] = [
  ...FIXTURE_MODELS.map((m) => ({ name: m, load: () => loadTokenizer(join(FIXTURES, 'models', m)) })),
  ...[320, 1024].map((vocab) => ({
    name: `generated tiny (${vocab})`,
    load: async () => {
      const files = makeTokenizerFiles(vocab);
      return loadTokenizer(await writeTokenizer(`tiny-${vocab}`, files.tokenizer, files.config));
    },
  })),
  {
    // A special token that starts like a word: text cut inside it encodes differently from the text before it.
    name: 'tiny-qwen2 with a word-like special token',
    load: async () => {
      const { tokenizer, config } = await fixtureFiles('tiny-qwen2');
      const added = tokenizer.added_tokens as Json[];
      const answer = { id: 320, content: 'answer', single_word: false, lstrip: false, rstrip: false };
      return loadTokenizer(
        await writeTokenizer(
          'word-like',
          { ...tokenizer, added_tokens: [...added, { ...answer, normalized: false, special: true }] },
          config,
        ),
      );
    },
  },
  {
    // A normaliser, and an added token marked `normalized` (matched inside pieces, so it does not cut them).
    name: 'tiny-qwen2 with NFKC + lowercase and a normalised added token',
    load: async () => {
      const { tokenizer, config } = await fixtureFiles('tiny-qwen2');
      const added = tokenizer.added_tokens as Json[];
      const extra = { id: 320, content: 'then', single_word: false, lstrip: false, rstrip: false, normalized: true };
      return loadTokenizer(
        await writeTokenizer(
          'normalised',
          {
            ...tokenizer,
            added_tokens: [...added, { ...extra, special: false }],
            normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
          },
          config,
        ),
      );
    },
  },
];

describe.each(CASES)('piece-wise spans with $name', ({ load }) => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await load();
  });

  it('splits into pieces whose encodings concatenate to the whole encoding', () => {
    expect(tok.pieces).toBeTypeOf('function');
    const next = seededRandom(7);
    for (let i = 0; i < 300; i++) {
      const text = sentence(next, 0, 30);
      const pieces = tok.pieces?.(text) ?? [];
      expect(pieces.map((p) => text.slice(p.start, p.end)).join('')).toBe(text);
      const joined = pieces.flatMap((p) => tok.encode(text.slice(p.start, p.end), { addSpecialTokens: false }));
      expect(joined).toEqual(tok.encode(text, { addSpecialTokens: false }));
    }
  });

  it('gives the ids, labels and errors of the reference method for chat, alpaca, classification and text rows', () => {
    const ref = referenceOf(tok);
    expect(ref.pieces).toBeUndefined();
    let compared = 0;
    for (const { row, opts } of rows(11, 300)) {
      expect(outcome(tok, row, opts), `line ${row.line}`).toEqual(outcome(ref, row, opts));
      compared++;
    }
    expect(compared).toBe(300);
  });
});

describe('tokenizers where encoding is not piece-wise', () => {
  it('reports added tokens that strip whitespace and Metaspace "first", and uses the reference method there', async () => {
    const { tokenizer, config } = await fixtureFiles('tiny-qwen2');
    const added = (tokenizer.added_tokens as Json[]).map((t) =>
      t.content === '<|im_end|>' ? { ...t, rstrip: true } : t,
    );
    const stripping = { ...tokenizer, added_tokens: added };
    expect(piecewiseObstacle(stripping)).toMatch(/<\|im_end\|>.*rstrip/);
    const metaspace = {
      ...tokenizer,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Metaspace', prepend_scheme: 'first' }] },
    };
    expect(piecewiseObstacle(metaspace)).toMatch(/Metaspace/);
    expect(piecewiseObstacle(tokenizer)).toBeUndefined();

    const tok = await loadTokenizer(await writeTokenizer('rstrip', stripping, config));
    expect(tok.pieces?.('a<|im_end|>\n b')).toBeUndefined();
    // Why it matters: the stripped newline is gone from the whole encoding but not from the piece's.
    const whole = tok.encode('a<|im_end|>\n b', { addSpecialTokens: false });
    const byPiece = ['a', '<|im_end|>', '\n b'].flatMap((p) => tok.encode(p, { addSpecialTokens: false }));
    expect(byPiece).not.toEqual(whole);
    // Rows still tokenise (by the reference method): the rendered newline after <|im_end|> is stripped.
    const out = tokenizeRow(
      {
        format: 'chat',
        line: 1,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'there' },
        ],
      },
      tok,
    );
    expect(tok.decode(out.input_ids)).toBe('<|im_start|>user\nhi<|im_end|><|im_start|>assistant\nthere<|im_end|>');
  });
});

describe('chat renders kept within a conversation', () => {
  it('tells a render with the generation prompt from one without (two replies in a row)', async () => {
    const tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
    const row: DataRow = {
      format: 'chat',
      line: 1,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'a b' },
        { role: 'assistant', content: 'c d' },
      ],
    };
    const out = tokenizeRow(row, tok);
    const runs: string[] = [];
    let run: number[] = [];
    out.labels.forEach((l, k) => {
      if (l !== -100) run.push(out.input_ids[k] as number);
      if ((l === -100 || k === out.labels.length - 1) && run.length > 0) {
        runs.push(tok.decode(run));
        run = [];
      }
    });
    // The second reply's header (<|im_start|>assistant\n) is prompt, not loss.
    expect(runs).toEqual(['a b<|im_end|>\n', 'c d<|im_end|>\n']);
  });
});
