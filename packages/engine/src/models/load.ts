// A model directory (and optionally a PEFT adapter directory) loaded once, ready to build graphs of any mode.

import { loadModelDir } from '../io/model-dir.js';
import { type LoadedPeftAdapter, loadPeftAdapter } from '../io/peft-adapter.js';
import type { Graph, TensorData } from '../onnx/ir.js';
import { type BuildCausalLMOptions, buildCausalLM, type CausalLMMode } from './causal-lm.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { composeExtensions, type ModelExtensions } from './extensions.js';
import { loraExtension } from './lora.js';

export interface LoadCausalLMOptions {
  /** A PEFT adapter directory (LoRA) applied on top of the base model. */
  readonly adapterDir?: string;
  /** Mark the adapter's tensors trainable (gradients with respect to them). */
  readonly adapterTrainable?: boolean;
}

export interface LoadedCausalLM {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly weights: ReadonlyMap<string, TensorData>;
  readonly adapter: LoadedPeftAdapter | null;
  /** The adapter's hooks (empty without an adapter). */
  readonly extensions: ModelExtensions;
  /** Builds a graph of this model; extra extensions run after the adapter's. */
  build(mode: CausalLMMode, opts?: Omit<BuildCausalLMOptions, 'mode'>): Graph;
}

export async function loadCausalLM(dir: string, opts: LoadCausalLMOptions = {}): Promise<LoadedCausalLM> {
  const { config, weights } = await loadModelDir(dir, { dtype: 'float32' });
  let adapter: LoadedPeftAdapter | null = null;
  let extensions: ModelExtensions = {};
  if (opts.adapterDir !== undefined) {
    adapter = await loadPeftAdapter(opts.adapterDir, { dtype: 'float32' });
    if (adapter.config.peftType !== 'LORA') {
      throw new ModelError(
        'unsupported',
        `${opts.adapterDir}: ${adapter.config.peftType} adapters are not supported yet (LORA only)`,
      );
    }
    extensions = loraExtension(adapter.config, adapter.tensors, { trainable: opts.adapterTrainable ?? false });
  }
  return {
    dir,
    config,
    weights,
    adapter,
    extensions,
    build(mode, buildOpts = {}) {
      const ext = buildOpts.extensions === undefined ? extensions : composeExtensions(extensions, buildOpts.extensions);
      return buildCausalLM(config, weights, { ...buildOpts, mode, extensions: ext });
    },
  };
}
