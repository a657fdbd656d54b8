// Test helpers for the train tests (not part of the public API): fixture paths, the fixture model and data,
// and a minimal LoRA method built directly on models' loraExtension, so the loop is tested without peft/.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelDir } from '../io/model-dir.js';
import { loadPeftAdapter, savePeftAdapter } from '../io/peft-adapter.js';
import type { LoraAdapterConfig } from '../io/peft-config.js';
import { FIXTURES } from '../io/test-paths.js';
import { loraExtension } from '../models/lora.js';
import type { TensorData } from '../onnx/ir.js';
import type { TrainMethod, TrainModel, TrainRow } from './types.js';

export { FIXTURES };

export async function fixtureModel(name = 'tiny-qwen2'): Promise<TrainModel> {
  const { config, weights } = await loadModelDir(join(FIXTURES, 'models', name), { dtype: 'float32' });
  return { config, weights };
}

export async function fixtureRows(file = 'tiny-chat.jsonl'): Promise<TrainRow[]> {
  return (await readFile(join(FIXTURES, 'data', file), 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TrainRow);
}

export interface LocalLora extends TrainMethod {
  /** How many times save() ran; `failSave` makes the save with this 1-based index throw midway. */
  saves: number;
  failSave?: number;
}

/** A LoRA method from a PEFT adapter directory: its tensors (float32 copies) are the params. */
export async function localLora(adapterDir: string): Promise<LocalLora> {
  const a = await loadPeftAdapter(adapterDir);
  const config = a.config as LoraAdapterConfig;
  const params = new Map<string, TensorData>();
  for (const [k, t] of a.tensors) {
    params.set(k, { dtype: 'float32', dims: [...t.dims], data: new Float32Array(t.data as Float32Array) });
  }
  const m: LocalLora = {
    method: 'lora',
    config,
    extensions: loraExtension(config, params, { trainable: true }),
    params,
    noDecay: new Set(),
    saves: 0,
    async save(dir, p) {
      m.saves++;
      if (m.failSave === m.saves) {
        // Simulates a disk that fills halfway through the adapter write.
        await savePeftAdapter(dir, { config, tensors: new Map(p) });
        throw new Error('ENOSPC: no space left on device (injected)');
      }
      await savePeftAdapter(dir, { config, tensors: new Map(p) });
    },
  };
  return m;
}

export const adapterDir = (name: string): string => join(FIXTURES, 'adapters', name);

export async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'tunemesh-train-'));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Relative L2 error ‖a − b‖ / ‖b‖ in double. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += ((a[i] as number) - (b[i] as number)) ** 2;
    n += (b[i] as number) ** 2;
  }
  return Math.sqrt(d) / Math.sqrt(n);
}
