// Messages between runtime.ts (main thread) and worker.ts (the thread that owns onnxruntime sessions).
// Plain data only: everything here crosses postMessage.

import type { TensorData } from './ir.js';

export interface OrtSessionConfig {
  executionProviders: string[];
  intraOpNumThreads: number;
}

export type Request =
  | {
      kind: 'create';
      id: number;
      session: number;
      model: Uint8Array;
      externalData: { path: string; data: Uint8Array }[];
      config: OrtSessionConfig;
    }
  | { kind: 'run'; id: number; session: number; feeds: Record<string, TensorData>; fetch: string[] | null }
  | { kind: 'release'; id: number; session: number };

export type Reply =
  | { id: number; ok: true; kind: 'created'; inputNames: string[]; outputNames: string[] }
  | { id: number; ok: true; kind: 'ran'; outputs: Record<string, TensorData>; runMs: number }
  | { id: number; ok: true; kind: 'released' }
  | { id: number; ok: false; message: string };
