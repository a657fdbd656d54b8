import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplateError, TokenizerError } from './errors.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

/** <repo>/../shared/fixtures (CI keeps the same copy beside the clone). */
const FIXTURES = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));
const MODELS = ['tiny-qwen2', 'tiny-llama', 'tiny-gpt2', 'tiny-qwen2-bf16'];

interface FixtureRow {
  input_ids: number[];
  labels: number[];
  text: string;
}

async function fixtureRows(): Promise<FixtureRow[]> {
  const text = await readFile(join(FIXTURES, 'data/tiny-chat.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FixtureRow);
}

/** Splits a ChatML rendering back into messages (the fixture rows keep only their text). */
function chatmlMessages(text: string): { role: string; content: string }[] {
  const out: { role: string; content: string }[] = [];
  const re = /<\|im_start\|>(\w+)\n([\s\S]*?)<\|im_end\|>\n/g;
  for (const m of text.matchAll(re)) out.push({ role: m[1] as string, content: m[2] as string });
  return out;
}

describe.each(MODELS)('tokenizer of %s', (model) => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(join(FIXTURES, 'models', model));
  });

  it("has the fixtures' special tokens and sizes", () => {
    expect(tok.vocabSize).toBe(320);
    expect(tok.tokenId('<|endoftext|>')).toBe(317);
    expect(tok.tokenId('<|im_start|>')).toBe(318);
    expect(tok.tokenId('<|im_end|>')).toBe(319);
    expect([...tok.specialTokenIds].sort()).toEqual([317, 318, 319]);
    expect(tok.paddingSide).toBe('right');
    // The byte-level alphabet: id 10 is "\n" (Ċ), id 65 is "A".
    expect(tok.decode([10, 65])).toBe('\nA');
  });

  it('reproduces every tiny-chat row: decode, re-encode, and render its messages through the chat template', async () => {
    for (const row of await fixtureRows()) {
      const text = tok.decode(row.input_ids);
      expect(text).toBe(row.text);
      expect(tok.encode(text, { addSpecialTokens: false })).toEqual(row.input_ids);
      const messages = chatmlMessages(text);
      expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(tok.applyChatTemplate(messages)).toBe(text);
      expect(tok.applyChatTemplate(messages, { tokenize: true })).toEqual(row.input_ids);
    }
  });

  it('round-trips ASCII and Unicode text', () => {
    for (const s of [
      'Hello, world! 123 + 456 = 579.\n\tTabs  and   spaces ',
      'héllo wörld — naïve café; 日本語のテキスト; emoji 🎉👩‍👩‍👧; Ελληνικά; עברית',
      ' leading space, trailing newline\n',
    ]) {
      const ids = tok.encode(s);
      expect(ids.every((id) => id >= 0 && id < tok.vocabSize)).toBe(true);
      expect(tok.decode(ids)).toBe(s);
    }
    // Non-ASCII falls back to single bytes: "é" is 0xC3 0xA9 in UTF-8.
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
  });

  it('skips special tokens on request', () => {
    expect(tok.decode([318, 72, 105, 319], { skipSpecialTokens: true })).toBe('Hi');
    expect(tok.decode([318, 72, 105, 319])).toBe('<|im_start|>Hi<|im_end|>');
    expect(tok.decode([])).toBe('');
  });
});

describe('tokenizer settings', () => {
  it('reads ChatML special tokens and generation_config of tiny-qwen2', async () => {
    const tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
    expect(tok.eosToken).toBe('<|im_end|>');
    expect(tok.eosTokenId).toBe(319);
    expect(tok.padTokenId).toBe(317);
    expect(tok.bosTokenId).toBeUndefined();
    expect(tok.modelMaxLength).toBe(512);
    expect(tok.stopTokenIds).toEqual([319]);
    expect(tok.encode('Hi')).toEqual([72, 105]); // no BOS: add_bos_token false, ByteLevel post-processor
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true })).toBe(
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  async function variant(edit: (config: Record<string, unknown>) => void, generation?: unknown): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tok-'));
    const src = join(FIXTURES, 'models/tiny-qwen2');
    await copyFile(join(src, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const config = JSON.parse(await readFile(join(src, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    edit(config);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    if (generation !== undefined) await writeFile(join(dir, 'generation_config.json'), JSON.stringify(generation));
    return dir;
  }

  it('accepts AddedToken objects, falls back to EOS for padding, adds BOS when add_bos_token says so', async () => {
    const dir = await variant(
      (c) => {
        c.bos_token = { content: '<|endoftext|>', lstrip: false, special: true };
        c.eos_token = { content: '<|im_end|>' };
        c.pad_token = null;
        c.add_bos_token = true;
        c.padding_side = 'left';
        c.model_max_length = 1e30;
      },
      { eos_token_id: [319, 317] },
    );
    const tok = await loadTokenizer(dir);
    expect(tok.bosTokenId).toBe(317);
    expect(tok.eosTokenId).toBe(319);
    expect(tok.padTokenId).toBe(319);
    expect(tok.stopTokenIds).toEqual([319, 317]);
    expect(tok.paddingSide).toBe('left');
    expect(tok.modelMaxLength).toBeUndefined();
    expect(tok.encode('Hi')).toEqual([317, 72, 105]);
    expect(tok.encode('Hi', { addSpecialTokens: false })).toEqual([72, 105]);
  });

  it('passes bos_token and raise_exception to templates; raise_exception becomes a ChatTemplateError', async () => {
    const dir = await variant((c) => {
      c.bos_token = '<|endoftext|>';
      c.chat_template =
        "{{ bos_token }}{% for m in messages %}{% if m['role'] not in ['user', 'assistant'] %}{{ raise_exception('bad role ' + m['role']) }}{% endif %}{{ m['content'] }}{% endfor %}";
    });
    const tok = await loadTokenizer(dir);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('<|endoftext|>x');
    expect(() => tok.applyChatTemplate([{ role: 'tool', content: 'x' }])).toThrowError(ChatTemplateError);
    expect(() => tok.applyChatTemplate([{ role: 'tool', content: 'x' }])).toThrowError(/bad role tool/);
  });

  it('prefers chat_template.jinja and understands the named-template list', async () => {
    const dir = await variant((c) => {
      c.chat_template = [
        { name: 'tool_use', template: 'TOOLS' },
        { name: 'default', template: 'DEFAULT{{ messages[0].content }}' },
      ];
    });
    expect((await loadTokenizer(dir)).applyChatTemplate([{ role: 'user', content: '!' }])).toBe('DEFAULT!');
    await writeFile(join(dir, 'chat_template.jinja'), 'FILE{{ messages | length }}');
    expect((await loadTokenizer(dir)).applyChatTemplate([{ role: 'user', content: '!' }])).toBe('FILE1');
  });

  it('rejects a tokenizer.json that does not parse, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tok-'));
    for (const bad of [
      '{"version": "1.0", "model": ',
      '[1, 2]',
      '{}',
      '{"model": {"type": "Nope"}, "added_tokens": []}',
    ]) {
      await writeFile(join(dir, 'tokenizer.json'), bad);
      const err = await loadTokenizer(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenizerError);
      expect((err as TokenizerError).file).toBe(join(dir, 'tokenizer.json'));
      expect((err as Error).message).toContain('tokenizer.json');
    }
    const missing = await loadTokenizer(join(dir, 'nope')).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TokenizerError);
    expect((missing as Error).message).toMatch(/tokenizer\.json: file not found/);
  });

  it('rejects bad tokenizer_config.json values and out-of-vocabulary ids', async () => {
    await expect(
      loadTokenizer(
        await variant((c) => {
          c.eos_token = '<|nope|>';
        }),
      ),
    ).rejects.toThrowError(/eos_token '<\|nope\|>' is not in the vocabulary/);
    await expect(
      loadTokenizer(
        await variant((c) => {
          c.padding_side = 'middle';
        }),
      ),
    ).rejects.toThrowError(TokenizerError);
    await expect(loadTokenizer(await variant(() => {}, { eos_token_id: 'x' }))).rejects.toThrowError(
      /generation_config\.json/,
    );
    const tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
    expect(() => tok.decode([320])).toThrowError(/outside the vocabulary/);
    expect(() => tok.decode([1.5])).toThrowError(TokenizerError);
  });
});
