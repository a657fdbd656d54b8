// Test helpers for the peft and merge tests (not part of the public API): fixture models and a minimal
// training loop (plain SGD over the autodiff's gradient graph) for the method contract tests.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGradientGraph } from '../autodiff/sweep.js';
import { loadModelDir } from '../io/model-dir.js';
import { CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import { FIXTURES, type FixtureBatch } from '../models/testing.js';
import type { TensorData } from '../onnx/ir.js';
import { createSession } from '../onnx/runtime.js';
import type { AppliedMethod, BaseModel } from './types.js';

export { FIXTURES, fixtureBatch, maskedRelMaxError, readJson } from '../models/testing.js';

export const modelPath = (name: string): string => join(FIXTURES, 'models', name);
export const adapterPath = (name: string): string => join(FIXTURES, 'adapters', name);

export async function loadBase(name: string): Promise<BaseModel> {
  const dir = modelPath(name);
  const { config, weights } = await loadModelDir(dir, { dtype: 'float32' });
  return { config, weights, dir };
}

export async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'tunemesh-peft-'));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function snapshot(params: ReadonlyMap<string, TensorData>): Map<string, Float32Array> {
  return new Map([...params].map(([k, t]) => [k, new Float32Array(t.data as Float32Array)]));
}

/**
 * `steps` full-batch SGD steps on the method's params; returns the loss before each step and after the last.
 * A minimal loop for the contract tests (the trainer's own loop lives in train/).
 */
export async function sgdSteps(
  applied: AppliedMethod,
  batch: FixtureBatch,
  steps: number,
  lr: number,
): Promise<number[]> {
  const forward = applied.buildGraph('loss');
  const wrt = [...applied.params.keys()];
  const { graph, gradients } = buildGradientGraph(forward, { loss: CAUSAL_LM_NAMES.loss, wrt });
  const session = await createSession(graph);
  const losses: number[] = [];
  try {
    for (let s = 0; s <= steps; s++) {
      const feeds: Record<string, TensorData> = { ...batch.feeds };
      for (const [k, t] of applied.params) feeds[k] = t;
      // fed dropout masks, DoRA's detached copies of A and B
      Object.assign(feeds, applied.stepFeeds?.(s, batch.batch * batch.seq) ?? {});
      const fetch = s === steps ? [CAUSAL_LM_NAMES.loss] : [CAUSAL_LM_NAMES.loss, ...Object.values(gradients)];
      const out = await session.run(feeds, fetch);
      losses.push((out[CAUSAL_LM_NAMES.loss] as TensorData).data[0] as number);
      if (s === steps) break;
      for (const [k, t] of applied.params) {
        const g = out[gradients[k] as string]?.data as Float32Array;
        const p = t.data as Float32Array;
        for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) - lr * (g[i] as number);
      }
    }
  } finally {
    await session.release();
  }
  return losses;
}
