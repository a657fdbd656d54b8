// Messages between runtime.ts (main thread) and worker.ts (the thread that owns onnxruntime sessions).
// Plain data only: everything here crosses postMessage.

import type { OptimizerSpec, ResidentStepRequest } from '../train/resident.js';
import type { TensorData } from './ir.js';

export interface OrtSessionConfig {
  executionProviders: string[];
  intraOpNumThreads: number;
  /** False: onnxruntime keeps constant weights as they are instead of adding a pre-packed GEMM copy of each. */
  prepack: boolean;
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
  | { kind: 'release'; id: number; session: number }
  // Resident training state (train/resident.ts) bound to a session of this worker.
  | {
      kind: 'resident-open';
      id: number;
      session: number;
      resident: number;
      /** Trainable params in fetch order, with the names of their gradient outputs. */
      params: { name: string; grad: string; dims: number[]; data: Float32Array }[];
      optimizer: OptimizerSpec;
      restore: { step: number; state: [string, Float32Array][] } | null;
    }
  | { kind: 'resident-run'; id: number; resident: number; feeds: Record<string, TensorData>; fetch: string[] }
  | ({ kind: 'resident-step'; id: number; resident: number } & ResidentStepRequest)
  | { kind: 'resident-read'; id: number; resident: number }
  | { kind: 'resident-close'; id: number; resident: number };

export type Reply =
  | { id: number; ok: true; kind: 'created'; inputNames: string[]; outputNames: string[] }
  | { id: number; ok: true; kind: 'ran'; outputs: Record<string, TensorData>; runMs: number }
  | { id: number; ok: true; kind: 'released' }
  | { id: number; ok: true; kind: 'resident-stepped'; gradNorm: number; applied: boolean }
  | {
      id: number;
      ok: true;
      kind: 'resident-state';
      params: [string, Float32Array][];
      optimizerStep: number;
      optimizerState: [string, Float32Array][];
    }
  | { id: number; ok: false; message: string };
