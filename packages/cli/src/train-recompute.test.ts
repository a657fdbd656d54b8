// `--no-recompute-attention` on `train` and `bench` reaches the engine as recomputeAttention: false (the engine's
// own tests check that both graphs give the same gradients and that the default keeps no probabilities).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as engine from '@tunemesh/engine';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { repoRoot, runTunemeshInProcess } from './testing.js';

vi.mock('@tunemesh/engine', async (original) => {
  const mod = await original<typeof import('@tunemesh/engine')>();
  return { ...mod, train: vi.fn(mod.train), benchTraining: vi.fn(mod.benchTraining) };
});

const chat = join(repoRoot, 'packages/engine/src/data/testdata/chat.jsonl');
const tmp = await mkdtemp(join(tmpdir(), 'tunemesh-train-recompute-'));
const model = join(tmp, 'tiny');

beforeAll(async () => {
  await engine.makeTinyModel({ arch: 'qwen2', out: model, sizes: { hidden: 32, layers: 1 }, seed: 2 });
});
afterAll(async () => {
  await engine.releaseAllSessions();
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  vi.mocked(engine.train).mockClear();
  vi.mocked(engine.benchTraining).mockClear();
});

const trainArgs = (out: string) => [
  'train',
  '--model',
  model,
  '--data',
  chat,
  '--out',
  out,
  '--max-steps',
  '2',
  '--json',
];

describe('--no-recompute-attention', () => {
  it('train: off by default, false with the flag, and the run trains either way', async () => {
    const plain = await runTunemeshInProcess(trainArgs(join(tmp, 'a')));
    expect(plain.code, plain.stderr).toBe(0);
    expect(vi.mocked(engine.train).mock.calls[0]?.[0].recomputeAttention).toBeUndefined();
    const kept = await runTunemeshInProcess([...trainArgs(join(tmp, 'b')), '--no-recompute-attention']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(vi.mocked(engine.train).mock.calls[1]?.[0].recomputeAttention).toBe(false);
    // Same seed, same data: the two graphs give the same losses.
    const losses = (s: string) =>
      s
        .split('\n')
        .filter((l) => l.startsWith('{"step"'))
        .map((l) => (JSON.parse(l) as { loss: number }).loss);
    const [a, b] = [losses(plain.stdout), losses(kept.stdout)];
    expect(a.length).toBe(2);
    for (const [i, v] of a.entries()) expect(b[i]).toBeCloseTo(v, 5);
  }, 60_000);

  it('bench: passes the flag to benchTraining', async () => {
    const args = ['bench', '--model', model, '--batch-size', '1', '--seq-len', '8', '--steps', '1', '--warmup', '0'];
    const r = await runTunemeshInProcess([...args, '--no-recompute-attention', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(vi.mocked(engine.benchTraining).mock.calls[0]?.[0].recomputeAttention).toBe(false);
  }, 60_000);
});
