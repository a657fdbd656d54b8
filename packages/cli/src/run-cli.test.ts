// The CLI's parsing, output and error reporting in-process (runCli), for the cases that need no fresh process:
// the child-process tests in cli.test.ts cover exit codes and stack-trace-free stderr end to end.

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { releaseAllSessions } from '@tunemesh/engine';
import { afterAll, describe, expect, it } from 'vitest';
import { runTunemeshInProcess } from './testing.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures');
const qwen = join(fixtures, 'models/tiny-qwen2');
const tmp = await mkdtemp(join(tmpdir(), 'tunemesh-run-cli-'));
afterAll(async () => {
  await releaseAllSessions();
  await rm(tmp, { recursive: true, force: true });
});

const run = (...args: string[]) => runTunemeshInProcess(args);

async function expectError(args: string[], code: number, pattern: RegExp): Promise<void> {
  const r = await run(...args);
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^tunemesh: /);
  expect(r.stderr).toMatch(pattern);
  expect(r.stdout).toBe('');
}

describe('runCli', () => {
  it('reports bad config and tokenizer files as input errors', async () => {
    const badConfig = join(tmp, 'bad-config');
    await cp(qwen, badConfig, { recursive: true });
    const c = JSON.parse(await readFile(join(badConfig, 'config.json'), 'utf8'));
    c.num_attention_heads = 5;
    await writeFile(join(badConfig, 'config.json'), JSON.stringify(c));
    await expectError(
      ['eval', '--model', badConfig, '--data', 'x.jsonl'],
      1,
      /"hidden_size" \(64\) is not divisible by num_attention_heads \(5\)/,
    );

    const badTok = join(tmp, 'bad-tok');
    await cp(qwen, badTok, { recursive: true });
    await writeFile(join(badTok, 'tokenizer.json'), '{"model": ');
    await expectError(['generate', '--model', badTok, '--prompt', 'hi', '--max-new-tokens', '1'], 1, /tokenizer\.json/);
  });

  it('reports usage errors with exit 2', async () => {
    const g = ['generate', '--model', qwen, '--max-new-tokens', '1'];
    await expectError([...g, '--prompt', 'a', '--prompt-ids', '1'], 2, /exactly one of --prompt or --prompt-ids/);
    await expectError([...g], 2, /exactly one of --prompt or --prompt-ids/);
    await expectError(
      [...g, '--prompt-ids', '1', '--greedy', '--temperature', '0.5'],
      2,
      /--greedy cannot be combined/,
    );
    await expectError([...g, '--prompt-ids', '1', '--chat'], 2, /--chat needs --prompt/);
    await expectError([...g, '--prompt-ids', '1,x'], 2, /comma-separated token ids/);
    await expectError(['generate', '--model', qwen, '--prompt-ids', '1'], 2, /--max-new-tokens/);
    await expectError(['make-tiny-model', '--arch', 'bert', '--out', join(tmp, 'x')], 2, /qwen2, llama, mistral, gpt2/);
    await expectError(['eval', '--model', qwen, '--data', 'x', '--batch-size', '0'], 2, /positive integer/);
    await expectError(['eval', '--model', qwen, '--data', 'x', '--device', 'tpu'], 2, /'cpu' or 'cuda'/);
    await expectError(['frobnicate'], 2, /unknown command 'frobnicate'/);
    await expectError(['eval', '--model', qwen, '--data', 'x', '--bogus'], 2, /unknown option '--bogus'/);
  });

  it('reports invalid values as input errors naming the value', async () => {
    const g = ['generate', '--model', qwen, '--max-new-tokens', '1'];
    await expectError(
      [...g, '--prompt-ids', '1,400'],
      1,
      /token id 400, which is out of range \(vocabulary has 320 ids\)/,
    );
    await expectError([...g, '--prompt-ids', '1', '--top-p', '1.5'], 1, /top-p must be in \(0, 1\]/);
    await expectError([...g, '--prompt-ids', '1', '--temperature', '0'], 1, /temperature must be/);
    await expectError(
      ['make-tiny-model', '--arch', 'qwen2', '--out', join(tmp, 'y'), '--hidden', '30'],
      1,
      /hidden \(30\) must be divisible by heads \(4\)/,
    );
    await expectError(['eval', '--model', join(tmp, 'missing'), '--data', 'x.jsonl'], 1, /does not exist/);
    const gpt2 = join(fixtures, 'models/tiny-gpt2');
    await expectError(
      ['generate', '--model', gpt2, '--prompt-ids', '1,2', '--max-new-tokens', '200'],
      1,
      /exceeds the model's 128 positions/,
    );
    await expectError(['eval', '--model', qwen, '--data', join(tmp, 'missing.jsonl')], 1, /missing\.jsonl/);
  });

  it('prints eval as aligned lines without --json, and samples reproducibly per seed', async () => {
    const ev = await run('eval', '--model', qwen, '--data', join(fixtures, 'data/tiny-chat.jsonl'));
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/^loss\s+6\.6016\d\d\nperplexity\s+736\.\d+\ntokens\s+84\n$/);

    const sample = (seed: string) =>
      run(
        'generate',
        '--model',
        qwen,
        '--prompt',
        'hello',
        '--max-new-tokens',
        '10',
        '--temperature',
        '1.2',
        '--top-k',
        '100',
        '--seed',
        seed,
        '--no-stop',
        '--json',
      );
    const [a, b, c] = [await sample('1'), await sample('1'), await sample('2')];
    expect(a.code, a.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).not.toBe(a.stdout);
    const out = JSON.parse(a.stdout);
    expect(out.ids).toHaveLength(10);
    expect(Object.keys(out)).toEqual(['ids', 'text']);
  });
});
