// `tunemesh train --quantize int8|int4 --quant-block-size N --gradient-checkpointing --precision`: a QLoRA run
// end to end as a user runs it, and the bad settings as one-line errors naming the flag and what would fit.

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, releaseAllSessions } from '@tunemesh/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runTunemesh, runTunemeshInProcess } from './testing.js';

const chat = join(repoRoot, 'packages/engine/src/data/testdata/chat.jsonl');
const tmp = await mkdtemp(join(tmpdir(), 'tunemesh-train-quant-'));
const model = join(tmp, 'tiny');

beforeAll(async () => {
  // hidden 64, intermediate 96: block 32 divides every input dimension, 64 does not (96)
  await makeTinyModel({ arch: 'qwen2', out: model, sizes: { hidden: 64, layers: 2, intermediate: 96 }, seed: 3 });
});
afterAll(async () => {
  await releaseAllSessions();
  await rm(tmp, { recursive: true, force: true });
});

const inProcess = (...args: string[]) => runTunemeshInProcess(args);

describe('tunemesh train on a quantized base', () => {
  it('int4 with gradient checkpointing trains, lowers the loss and saves the adapter', async () => {
    const out = join(tmp, 'run');
    const r = await runTunemesh([
      'train',
      '--model',
      model,
      '--data',
      chat,
      '--out',
      out,
      '--quantize',
      'int4',
      '--quant-block-size',
      '32',
      '--gradient-checkpointing',
      '--max-steps',
      '6',
      '--batch-size',
      '4',
      '--lr',
      '0.01',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/base: 14 linear weights quantized \(int4, block 32\): [\d.]+ → [\d.]+ MiB/);
    const losses = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"step"'))
      .map((l) => (JSON.parse(l) as { loss: number }).loss);
    expect(losses.length).toBe(6);
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
    expect(await readdir(out)).toContain('adapter_model.safetensors');
  }, 60_000);

  it('bad settings fail naming the flag and what fits', async () => {
    const base = ['train', '--model', model, '--data', chat, '--out', join(tmp, 'bad')];
    const block = await inProcess(...base, '--quantize', 'int4', '--quant-block-size', '64');
    expect(block.code).not.toBe(0);
    expect(block.stderr).toMatch(
      /quant block size 64 does not divide the input dimension 96 of '.*down_proj\.weight'; block sizes that fit this model: 32/,
    );
    const int8 = await inProcess(...base, '--quantize', 'int8', '--quant-block-size', '32');
    expect(int8.code).toBe(2);
    expect(int8.stderr).toMatch(/--quant-block-size applies to --quantize int4/);
    const fp16 = await inProcess(...base, '--precision', 'fp16');
    expect(fp16.code).toBe(2);
    expect(fp16.stderr).toMatch(/--precision fp16: .* trains in fp32/);
    const mode = await inProcess(...base, '--quantize', 'int2');
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/int8, int4/);
  }, 60_000);
});
