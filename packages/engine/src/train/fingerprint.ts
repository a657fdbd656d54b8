// What a checkpoint must share with the run that resumes it: the same base model (config and frozen weights),
// the same method with the same settings, the same parameter names and shapes, and the same training rows.
// Each part is hashed on its own so a refusal can say which one differs.

import { createHash, type Hash } from 'node:crypto';
import type { TensorData } from '../onnx/ir.js';
import type { TrainMethod, TrainModel, TrainRow } from './types.js';

export interface Fingerprint {
  /** sha256 of the model config and every frozen weight (names, dtypes, shapes, bytes). */
  readonly model: string;
  /** Human-readable model summary for error messages. */
  readonly modelSummary: string;
  readonly method: string;
  /** The method config as JSON with sorted keys (small; kept whole so a refusal can show the difference). */
  readonly methodConfig: string;
  /** Param names and shapes, sorted: 'name[d0,d1]'. */
  readonly params: readonly string[];
  /** sha256 of the training rows (ids and labels, in order). */
  readonly data: string;
  readonly dataRows: number;
}

export function computeFingerprint(model: TrainModel, method: TrainMethod, rows: readonly TrainRow[]): Fingerprint {
  const h = createHash('sha256');
  h.update(stableJson(model.config));
  const names = [...model.weights.keys()].sort();
  for (const name of names) {
    const t = model.weights.get(name) as TensorData;
    h.update(`\n${name}:${t.dtype}:[${t.dims.join(',')}]`);
    // A tensor the method trains under its own name changes during the run; only its shape identifies the model.
    if (!method.params.has(name)) hashBytes(h, t);
  }
  // A quantized base is a different base: the codes and scales identify it (resuming across modes is refused).
  for (const [name, q] of [...(model.quantized ?? new Map())].sort(([a], [b]) => (a < b ? -1 : 1))) {
    h.update(`\n${name}:${q.kind}${q.kind === 'int4' ? `/${q.blockSize}` : ''}`);
    h.update(q.kind === 'int8' ? q.q : q.packed);
    h.update(new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength));
  }
  const c = model.config;
  const modelSummary = `${c.architecture} (hidden ${c.hiddenSize}, ${c.numLayers} layers, vocab ${c.vocabSize})`;
  const d = createHash('sha256');
  for (const r of rows) {
    d.update(JSON.stringify(r.input_ids));
    d.update(r.labels === undefined ? '-' : JSON.stringify(r.labels));
    d.update('\n');
  }
  return {
    model: h.digest('hex'),
    modelSummary,
    method: method.method,
    methodConfig: stableJson(method.config),
    params: [...method.params].map(([n, t]) => `${n}[${t.dims.join(',')}]`).sort(),
    data: d.digest('hex'),
    dataRows: rows.length,
  };
}

function hashBytes(h: Hash, t: TensorData): void {
  const a = t.data;
  h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** JSON with object keys sorted; Maps, Sets, typed arrays and bigints written as plain JSON values. */
export function stableJson(v: unknown): string {
  return JSON.stringify(normalise(v));
}

function normalise(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? v.toString() : v;
  if (v instanceof Map) return normalise(Object.fromEntries([...v].map(([k, x]) => [String(k), x])));
  if (v instanceof Set) return [...v].map(normalise);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => normalise(x));
  if (Array.isArray(v)) return v.map(normalise);
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) if (o[k] !== undefined) out[k] = normalise(o[k]);
  return out;
}
