// The tunemesh CLI as a user runs it: a child process from source, against the reference fixtures and a
// make-tiny-model directory.

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult as Result, repoRoot, runTunemesh } from './testing.js';

const repo = repoRoot;
const tunemesh = (...args: string[]) => runTunemesh(args);
const fixtures = resolve(repo, '../shared/fixtures');
const PROMPT_IDS = '318,85,115,101,114,58,32,104,105,10,318,97,115,115,105,115,116,97,110,116,10';
const tmp = await mkdtemp(join(tmpdir(), 'tunemesh-cli-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** A failure is one `tunemesh: ...` line on stderr, nothing on stdout, no stack trace. */
function expectOneLineError(r: Result, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tunemesh: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

const model = (name: string) => join(fixtures, 'models', name);
const adapter = (name: string) => join(fixtures, 'adapters', name);
const expected = async (name: string) => JSON.parse(await readFile(join(fixtures, 'expected', name), 'utf8'));

describe.concurrent('tunemesh on the fixtures', () => {
  it('eval --json gives the reference loss', async () => {
    const r = await tunemesh(
      'eval',
      '--model',
      model('tiny-qwen2'),
      '--data',
      join(fixtures, 'data/tiny-chat.jsonl'),
      '--batch-size',
      '3',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const ref = await expected('tiny-qwen2.base.loss.json');
    expect(Math.abs(out.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(out.tokens).toBe(ref.n_target_tokens);
    expect(out.perplexity).toBeCloseTo(Math.exp(out.loss), 6);
  });

  for (const [m, a] of [
    ['tiny-qwen2', undefined],
    ['tiny-llama', undefined],
    ['tiny-gpt2', undefined],
    ['tiny-qwen2', 'tiny-qwen2-lora'],
    ['tiny-gpt2', 'tiny-gpt2-lora'],
  ] as const) {
    it(`generate --greedy ${m}${a ? ` --adapter ${a}` : ''} equals transformers`, async () => {
      const args = [
        'generate',
        '--model',
        model(m),
        '--prompt-ids',
        PROMPT_IDS,
        '--max-new-tokens',
        '16',
        '--greedy',
        '--json',
      ];
      if (a) args.push('--adapter', adapter(a));
      const r = await tunemesh(...args);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.ids).toEqual((await expected(`generate/${m}${a ? `.${a}` : ''}.json`)).ids);
      expect(typeof out.text).toBe('string');
    });
  }
});

describe('tunemesh on a make-tiny-model directory', () => {
  it('makes a model, then evaluates chat rows and samples on it', async () => {
    const dir = join(tmp, 'tiny-llama');
    const made = await tunemesh(
      'make-tiny-model',
      '--arch',
      'llama',
      '--out',
      dir,
      '--hidden',
      '32',
      '--layers',
      '1',
      '--heads',
      '2',
      '--kv-heads',
      '1',
      '--intermediate',
      '48',
      '--vocab',
      '400',
      '--seed',
      '5',
      '--json',
    );
    expect(made.code, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ arch: 'llama', hidden: 32, vocab: 400 });

    const data = join(tmp, 'chat.jsonl');
    const row = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello there' },
      ],
    };
    await writeFile(data, `${JSON.stringify(row)}\n${JSON.stringify(row)}\n`);
    const sample = [
      '--prompt',
      'hello',
      '--chat',
      '--max-new-tokens',
      '12',
      '--temperature',
      '0.9',
      '--top-k',
      '50',
      '--top-p',
      '0.95',
      '--seed',
      '7',
      '--no-stop',
      '--json',
    ];
    const [ev, gen] = await Promise.all([
      tunemesh('eval', '--model', dir, '--data', data, '--json'),
      tunemesh('generate', '--model', dir, ...sample),
    ]);
    expect(ev.code, ev.stderr).toBe(0);
    const loss = JSON.parse(ev.stdout);
    // A random model is close to uniform over 400 ids: loss near ln(400) ≈ 5.99.
    expect(loss.loss).toBeGreaterThan(5);
    expect(loss.loss).toBeLessThan(7);
    expect(loss.tokens).toBeGreaterThan(0);
    expect(gen.code, gen.stderr).toBe(0);
    expect(JSON.parse(gen.stdout).ids).toHaveLength(12);
  });
});

describe('classification with a tokenizer learned on the task', () => {
  it('make-tiny-model --tokenizer-corpus makes the task words single tokens; eval scores label words', async () => {
    const dir = join(tmp, 'tiny-sentiment');
    const reviews = resolve(repo, 'examples/sentiment/reviews.jsonl');
    const made = await tunemesh(
      'make-tiny-model',
      '--arch',
      'qwen2',
      '--out',
      dir,
      '--vocab',
      '600',
      '--tokenizer-corpus',
      reviews,
      '--hidden',
      '32',
      '--layers',
      '1',
      '--heads',
      '2',
      '--kv-heads',
      '1',
      '--intermediate',
      '48',
    );
    expect(made.code, made.stderr).toBe(0);
    const vocab = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
    // Byte-level BPE spells a leading space as "Ġ": frequent review words are whole tokens.
    for (const w of ['Ġawful', 'Ġbrilliant', 'Ġmovie']) expect(vocab[w], w).toBeTypeOf('number');

    const data = join(tmp, 'reviews-40.jsonl');
    const lines = (await readFile(reviews, 'utf8')).split('\n').slice(0, 40);
    await writeFile(data, `${lines.join('\n')}\n`);
    const ev = await tunemesh(
      'eval',
      '--model',
      dir,
      '--data',
      data,
      '--prompt-template',
      'Review: {text}\\nSentiment:',
      '--label-words',
      '{"0":" negative","1":" positive"}',
      '--json',
    );
    expect(ev.code, ev.stderr).toBe(0);
    const out = JSON.parse(ev.stdout) as {
      tokens: number;
      classification: { accuracy: number; labels: string[]; confusion: number[][] };
    };
    const c = out.classification;
    expect(c.labels).toEqual(['0', '1']);
    const truth = lines.map((l) => String(JSON.parse(l).label));
    // Rows of the confusion matrix are the true labels: their sums are the label counts of the file.
    expect(c.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(
      c.labels.map((l) => truth.filter((t) => t === l).length),
    );
    expect(c.accuracy).toBeCloseTo(((c.confusion[0]?.[0] ?? 0) + (c.confusion[1]?.[1] ?? 0)) / 40, 12);
    // The label words' tokens carry the loss: " negative" / " positive" are several tokens each here.
    expect(out.tokens).toBeGreaterThanOrEqual(40);

    const bad = await tunemesh('eval', '--model', dir, '--data', data, '--label-words', '{"0": 3}');
    expectOneLineError(bad, 2, /--label-words/);
  });
});

describe.concurrent('bad input: one line on stderr and a non-zero exit', () => {
  async function brokenModel(name: string, edit: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(tmp, name);
    await cp(model('tiny-qwen2'), dir, { recursive: true });
    await edit(dir);
    return dir;
  }
  const config = async (dir: string, change: (c: Record<string, unknown>) => void) => {
    const c = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    change(c);
    await writeFile(join(dir, 'config.json'), JSON.stringify(c));
  };
  const genArgs = (dir: string) => ['generate', '--model', dir, '--prompt-ids', '1,2', '--max-new-tokens', '2'];

  it('a malformed safetensors file', async () => {
    const dir = await brokenModel('bad-st', (d) =>
      writeFile(join(d, 'model.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123])),
    );
    expectOneLineError(await tunemesh(...genArgs(dir)), 1, /safetensors/);
  });
  it('an unsupported architecture, listing the supported ones', async () => {
    const dir = await brokenModel('bad-arch', (d) => config(d, (c) => (c.architectures = ['BertForMaskedLM'])));
    expectOneLineError(await tunemesh(...genArgs(dir)), 1, /BertForMaskedLM.*not supported.*Qwen2ForCausalLM/);
  });
  it('a data row in neither format, with file and line', async () => {
    const data = join(tmp, 'bad-rows.jsonl');
    await writeFile(data, '{"input_ids": [1, 2, 3]}\n\n{"foo": 1}\n');
    expectOneLineError(await tunemesh('eval', '--model', model('tiny-qwen2'), '--data', data), 1, /bad-rows\.jsonl:3/);
  });
  it('a usage error exits 2', async () => {
    expectOneLineError(await tunemesh('eval', '--data', 'x.jsonl'), 2, /--model/);
  });
});
