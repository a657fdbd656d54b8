// A model directory (plus optional adapter) opened for inference: graphs built and sessions created lazily,
// one per mode, so `eval` never builds the decode graph and `generate` never builds the loss graph.

import type { ModelConfig } from '../io/config.js';
import type { CausalLMMode } from '../models/causal-lm.js';
import type { LoadedCausalLM } from '../models/load.js';
import { buildVirtualCache } from '../models/virtual-cache.js';
import type { TensorData } from '../onnx/ir.js';
import { createSession, type Device, runGraph, type Session } from '../onnx/runtime.js';
import { loadTrainedModel } from '../peft/load.js';
import type { DecoderModel } from './session.js';

export interface OpenModelOptions {
  /** A trained adapter directory (PEFT LoRA/DoRA/IA3, BitFit, bottleneck adapter) applied on top of the base model. */
  readonly adapterDir?: string;
  readonly device?: Device;
  readonly threads?: number;
}

export interface InferenceModel {
  readonly config: ModelConfig;
  readonly lm: LoadedCausalLM;
  /** The session for a mode, built on first use (build + session creation time in `timings`). */
  session(mode: CausalLMMode): Promise<Session>;
  /** The decode session with the cache geometry generate() needs. */
  decoder(): Promise<DecoderModel>;
  /**
   * Positions left for real tokens when they are learned (GPT-2): the model's, less the virtual tokens of a
   * prompt-learning adapter; undefined for RoPE models.
   */
  readonly maxPositions: number | undefined;
  /** Milliseconds spent building each mode's graph and creating its session. */
  readonly timings: Partial<Record<CausalLMMode, { buildMs: number; sessionMs: number }>>;
  release(): Promise<void>;
}

export async function openModel(dir: string, opts: OpenModelOptions = {}): Promise<InferenceModel> {
  // peft/load reads every saved method (LoRA with biases, DoRA, IA3, BitFit, bottleneck adapters).
  const lm = await loadTrainedModel(dir, opts.adapterDir);
  const sessions = new Map<CausalLMMode, Promise<Session>>();
  const timings: InferenceModel['timings'] = {};
  const sessionOpts = { ...(opts.device && { device: opts.device }), ...(opts.threads && { threads: opts.threads }) };

  const session = (mode: CausalLMMode): Promise<Session> => {
    let s = sessions.get(mode);
    if (!s) {
      s = (async () => {
        const t0 = performance.now();
        const graph = lm.build(mode);
        const t1 = performance.now();
        const created = await createSession(graph, sessionOpts);
        timings[mode] = { buildMs: t1 - t0, sessionMs: performance.now() - t1 };
        return created;
      })();
      sessions.set(mode, s);
    }
    return s;
  };

  const maxPositions = lm.config.family === 'gpt2' ? lm.config.maxPositionEmbeddings : undefined;
  // Prompt learning: the virtual positions' keys and values, computed once, start every generation's cache.
  let prefix: Promise<DecoderModel['prefix']> | undefined;
  const prefixCache = (): Promise<DecoderModel['prefix']> => {
    prefix ??= (async () => {
      const v = lm.extensions.virtual;
      if (v === undefined) return undefined;
      const out = await runGraph(buildVirtualCache(lm.config, lm.weights, lm.extensions), {}, undefined, sessionOpts);
      const get = (name: string): TensorData => {
        const t = out[name];
        if (t === undefined) throw new Error(`virtual cache graph produced no '${name}'`);
        return t;
      };
      const layers = Array.from({ length: lm.config.numLayers }, (_, i) => i);
      return {
        length: v.count,
        keys: layers.map((i) => get(`present.${i}.key`)),
        values: layers.map((i) => get(`present.${i}.value`)),
      };
    })();
    return prefix;
  };
  return {
    config: lm.config,
    lm,
    maxPositions: maxPositions === undefined ? undefined : maxPositions - (lm.extensions.virtual?.count ?? 0),
    session,
    timings,
    async decoder() {
      const p = await prefixCache();
      return {
        ...(p !== undefined && { prefix: p }),
        session: await session('decode'),
        layers: lm.config.numLayers,
        kvHeads: lm.config.numKvHeads,
        headDim: lm.config.headDim,
        kvDtype: 'float32',
        ...(maxPositions !== undefined && { maxPositions }),
      };
    },
    async release() {
      const all = await Promise.allSettled(sessions.values());
      sessions.clear();
      await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.release() : undefined)));
    },
  };
}
