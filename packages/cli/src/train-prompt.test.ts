// `tunemesh train --method prompt-tuning | p-tuning | prefix-tuning` end to end: each trains, writes PEFT's
// files, evaluates lower than the base, generates through the KV cache, continues with --init-adapter, and is
// refused by merge; misplaced flags are usage errors.

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, releaseAllSessions } from '@tunemesh/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runTunemesh, runTunemeshInProcess } from './testing.js';

const repo = repoRoot;
const tunemesh = (...args: string[]) => runTunemesh(args, 90_000);
const inProcess = (...args: string[]) => runTunemeshInProcess(args);
const chat = join(repo, 'packages/engine/src/data/testdata', 'chat.jsonl');
const tmp = await mkdtemp(join(tmpdir(), 'tunemesh-train-prompt-'));
const model = join(tmp, 'tiny');

beforeAll(async () => {
  await makeTinyModel({ arch: 'qwen2', out: model, sizes: { hidden: 64, layers: 2 }, seed: 3 });
});
afterAll(async () => {
  await releaseAllSessions();
  await rm(tmp, { recursive: true, force: true });
});

const evalLoss = async (...args: string[]): Promise<number> => {
  const r = await tunemesh('eval', '--data', chat, '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).loss as number;
};

describe('tunemesh train: prompt tuning, P-tuning, prefix tuning', () => {
  it('train, write PEFT files, evaluate lower than the base, generate, continue with --init-adapter; merge refuses', async () => {
    const common = ['--model', model, '--data', chat, '--max-steps', '8', '--batch-size', '10', '--json'];
    const outs = { prompt: join(tmp, 'prompt'), ptuning: join(tmp, 'ptuning'), prefix: join(tmp, 'prefix') };
    const runs = await Promise.all([
      tunemesh(
        'train',
        ...common,
        '--method',
        'prompt-tuning',
        '--num-virtual-tokens',
        '8',
        '--prompt-init',
        'TEXT',
        '--prompt-init-text',
        'Answer the question.',
        '--lr',
        '0.1',
        '--out',
        outs.prompt,
      ),
      tunemesh(
        'train',
        ...common,
        '--method',
        'p-tuning',
        '--num-virtual-tokens',
        '4',
        '--encoder',
        'LSTM',
        '--encoder-hidden-size',
        '16',
        '--lr',
        '3e-2',
        '--out',
        outs.ptuning,
      ),
      tunemesh(
        'train',
        ...common,
        '--method',
        'prefix-tuning',
        '--num-virtual-tokens',
        '6',
        '--prefix-projection',
        '--lr',
        '1e-2',
        '--out',
        outs.prefix,
      ),
    ]);
    for (const [r, method] of [
      [runs[0], 'prompt-tuning'],
      [runs[1], 'p-tuning'],
      [runs[2], 'prefix-tuning'],
    ] as const) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').at(-1) as string)).toMatchObject({ done: true, method, steps: 8 });
    }
    const cfg = JSON.parse(await readFile(join(outs.prompt, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'PROMPT_TUNING',
      num_virtual_tokens: 8,
      prompt_tuning_init: 'TEXT',
      prompt_tuning_init_text: 'Answer the question.',
      // PEFT refuses a TEXT config without a tokenizer when it reads the file
      tokenizer_name_or_path: model,
    });
    expect(await readdir(outs.ptuning)).toEqual(
      expect.arrayContaining([
        'adapter_config.json',
        'adapter_model.safetensors',
        'tunemesh_prompt_encoder.safetensors',
      ]),
    );

    const base = await evalLoss('--model', model);
    const losses = await Promise.all(Object.values(outs).map((o) => evalLoss('--model', model, '--adapter', o)));
    for (const loss of losses) expect(loss).toBeLessThan(base - 0.01);

    const g = await tunemesh(
      'generate',
      '--model',
      model,
      '--adapter',
      outs.prefix,
      '--prompt',
      'hi',
      '--max-new-tokens',
      '4',
      '--no-stop',
      '--json',
    );
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).ids).toHaveLength(4);

    // one more step from the saved P-tuning run: its encoder comes back, so the first loss is the saved loss
    const more = await tunemesh(
      'train',
      ...common.slice(0, 4),
      '--max-steps',
      '1',
      '--batch-size',
      '20',
      '--lr',
      '1e-12',
      '--json',
      '--init-adapter',
      outs.ptuning,
      '--out',
      join(tmp, 'ptuning-more'),
    );
    expect(more.code, more.stderr).toBe(0);
    const first = JSON.parse(more.stdout.split('\n').find((l) => l.includes('"loss"')) as string).loss as number;
    expect(Math.abs(first - (losses[1] as number))).toBeLessThan(1e-3);

    const m = await inProcess('merge', '--model', model, '--adapter', outs.prompt, '--out', join(tmp, 'merged'));
    expect(m.code).not.toBe(0);
    expect(m.stderr).toMatch(/PROMPT_TUNING/);
  });

  it('flags of another method are usage errors', async () => {
    const r = await inProcess(
      'train',
      '--model',
      model,
      '--data',
      chat,
      '--out',
      join(tmp, 'x'),
      '--method',
      'lora',
      '--num-virtual-tokens',
      '4',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--num-virtual-tokens applies to --method prompt-tuning or p-tuning or prefix-tuning, not lora/,
    );
    const p = await inProcess(
      'train',
      '--model',
      model,
      '--data',
      chat,
      '--out',
      join(tmp, 'y'),
      '--method',
      'p-tuning',
      '--prefix-projection',
    );
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/--prefix-projection applies to --method prefix-tuning, not p-tuning/);
  });
});
