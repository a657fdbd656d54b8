import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataError } from './errors.js';
import { renderAlpacaPrompt } from './prompt-template.js';
import { type ChatRow, IGNORE_INDEX } from './rows.js';
import { tokenizeRow, tokenizeRows } from './tokenize-rows.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

const FIXTURES = fileURLToPath(new URL('../../../../../shared/fixtures/', import.meta.url));

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadTokenizer(join(FIXTURES, 'models/tiny-qwen2'));
});

/** The text of the scored tokens, one string per contiguous run. */
function scoredRuns(ids: number[], labels: number[]): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  labels.forEach((l, k) => {
    if (l !== IGNORE_INDEX) {
      expect(l).toBe(ids[k]); // labels are the ids themselves; the model shifts
      run.push(l);
    } else if (run.length > 0) {
      runs.push(tok.decode(run));
      run = [];
    }
  });
  if (run.length > 0) runs.push(tok.decode(run));
  return runs;
}

describe('tokenizeRows', () => {
  it('reproduces the ids and completion-only labels of every tiny-chat fixture row from its messages', async () => {
    const lines = (await readFile(join(FIXTURES, 'data/tiny-chat.jsonl'), 'utf8')).trim().split('\n');
    const fixture = lines.map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[]; text: string });
    const rows: ChatRow[] = fixture.map((f, i) => {
      const m = /^<\|im_start\|>user\n([\s\S]*?)<\|im_end\|>\n<\|im_start\|>assistant\n([\s\S]*?)<\|im_end\|>\n$/.exec(
        f.text,
      );
      expect(m).not.toBeNull();
      return {
        format: 'chat',
        line: i + 1,
        messages: [
          { role: 'user', content: m?.[1] ?? '' },
          { role: 'assistant', content: m?.[2] ?? '' },
        ],
      };
    });
    const out = tokenizeRows(rows, tok);
    out.forEach((row, i) => {
      expect(row.input_ids).toEqual(fixture[i]?.input_ids);
      expect(row.labels).toEqual(fixture[i]?.labels);
      expect(row.truncated).toBe(false);
    });
  });

  it('scores every assistant turn of a multi-turn chat and nothing else; weight 0 masks a turn', () => {
    const row: ChatRow = {
      format: 'chat',
      line: 1,
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello there' },
        { role: 'user', content: 'Café?' },
        { role: 'assistant', content: 'Oui ☕' },
      ],
    };
    const out = tokenizeRow(row, tok);
    expect(out.input_ids).toEqual(tok.applyChatTemplate(row.messages, { tokenize: true }));
    expect(scoredRuns(out.input_ids, out.labels)).toEqual(['Hello there<|im_end|>\n', 'Oui ☕<|im_end|>\n']);
    const second = { ...row, messages: row.messages.map((m, i) => (i === 2 ? { ...m, weight: 0 as const } : m)) };
    expect(scoredRuns(tokenizeRow(second, tok).input_ids, tokenizeRow(second, tok).labels)).toEqual([
      'Oui ☕<|im_end|>\n',
    ]);
  });

  it('finds assistant text when the template renders history differently from a generation prompt', () => {
    // Like reasoning templates: the generation prompt opens a think block that rendered turns do not have.
    const chatTemplate =
      "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}";
    const row: ChatRow = {
      format: 'chat',
      line: 3,
      messages: [
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: 'A1' },
        { role: 'user', content: 'Q2' },
        { role: 'assistant', content: 'A2' },
      ],
    };
    const out = tokenizeRow(row, tok, { chatTemplate });
    expect(scoredRuns(out.input_ids, out.labels)).toEqual(['A1<|im_end|>', 'A2<|im_end|>']);
    const broken = "{% for m in messages %}{{ m['role'] }}{% endfor %}";
    const e = (() => {
      try {
        tokenizeRow(row, tok, { chatTemplate: broken, file: 'chat.jsonl' });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(DataError);
    expect((e as DataError).message).toMatch(/^chat\.jsonl:3 \(field 'messages\[1\]\.content'\)/);
  });

  it('masks the alpaca prompt and scores the output plus EOS', () => {
    const row = {
      format: 'alpaca' as const,
      line: 1,
      instruction: 'Add 2 and 3.',
      input: 'Use digits.',
      output: '2 + 3 = 5',
    };
    const out = tokenizeRow(row, tok);
    const prompt = renderAlpacaPrompt(row);
    expect(prompt).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd 2 and 3.\n\n### Input:\nUse digits.\n\n### Response:\n',
    );
    expect(out.input_ids).toEqual([...tok.encode(prompt + row.output), 319]);
    expect(scoredRuns(out.input_ids, out.labels)).toEqual(['2 + 3 = 5<|im_end|>']);
    expect(out.labels.slice(0, tok.encode(prompt).length).every((l) => l === IGNORE_INDEX)).toBe(true);

    const viaChat = tokenizeRow({ ...row, system: 'S' }, tok, { template: 'chat' });
    expect(tok.decode(viaChat.input_ids)).toBe(
      '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nAdd 2 and 3.\n\nUse digits.<|im_end|>\n<|im_start|>assistant\n2 + 3 = 5<|im_end|>\n',
    );
    expect(scoredRuns(viaChat.input_ids, viaChat.labels)).toEqual(['2 + 3 = 5<|im_end|>\n']);
  });

  it('gives a token that BPE merges across the prompt boundary to the output', () => {
    // "the" is a merged token in the fixture vocabulary ("t"+"he"), split here by a custom prompt.
    const template = (): string => 'Say: t';
    const out = tokenizeRow({ format: 'alpaca', line: 1, instruction: '', output: 'he end' }, tok, {
      template,
      appendEos: false,
    });
    expect(out.input_ids).toEqual(tok.encode('Say: the end'));
    const runs = scoredRuns(out.input_ids, out.labels);
    expect(runs).toHaveLength(1);
    expect(runs[0]?.endsWith('he end')).toBe(true);
  });

  it('scores every token of text rows, keeps pre-tokenised labels and truncates to maxLength', () => {
    const text = tokenizeRow({ format: 'text', line: 1, text: 'Hello world' }, tok);
    expect(text.input_ids).toEqual([...tok.encode('Hello world'), 319]);
    expect(text.labels).toEqual(text.input_ids);
    const pre = tokenizeRow({ format: 'pretokenized', line: 2, input_ids: [1, 2, 3], labels: [-100, 2, 3] }, tok);
    expect(pre).toEqual({ input_ids: [1, 2, 3], labels: [-100, 2, 3], truncated: false, line: 2 });
    const noLabels = tokenizeRow({ format: 'pretokenized', line: 3, input_ids: [5, 6, 7, 8] }, tok, { maxLength: 3 });
    expect(noLabels).toEqual({ input_ids: [5, 6, 7], labels: [5, 6, 7], truncated: true, line: 3 });
    expect(() => tokenizeRow({ format: 'text', line: 1, text: 'x' }, tok, { maxLength: 0 })).toThrowError(DataError);
  });
});
