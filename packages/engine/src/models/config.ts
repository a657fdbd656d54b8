// The builders read io's ModelConfig (config.json validated, transformers' defaults applied) — the one config
// type of the engine. These helpers answer the few questions whose answer depends on the family.

import type { ModelConfig } from '../io/config.js';
import { ropeInverseFrequencies } from '../io/rope.js';
import { ModelError } from './errors.js';

export type { ModelConfig };

/** The activation formulas the builders emit; the tanh approximation has three names in transformers. */
export type Activation = 'silu' | 'gelu_tanh' | 'gelu' | 'relu';

export function activationOf(cfg: ModelConfig): Activation {
  switch (cfg.hiddenAct) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return 'gelu_tanh';
    default:
      return cfg.hiddenAct;
  }
}

/** rms_norm_eps (Llama family) or layer_norm_epsilon (GPT-2). */
export function normEps(cfg: ModelConfig): number {
  return cfg.family === 'gpt2' ? cfg.layerNormEps : cfg.rmsNormEps;
}

/**
 * The sliding attention window of a layer, or null for full causal attention. Mistral slides on every layer
 * when sliding_window is set; Qwen2 (with use_sliding_window) only on layers >= max_window_layers.
 */
export function slidingWindowFor(cfg: ModelConfig, layer: number): number | null {
  if (cfg.family !== 'llama' || cfg.slidingWindow === null) return null;
  if (cfg.architecture === 'Qwen2ForCausalLM' && layer < (cfg.maxWindowLayers ?? cfg.numLayers)) return null;
  return cfg.slidingWindow;
}

/** RoPE inv_freq rounded to float32 as transformers holds it. Dynamic NTK scaling changes with the sequence
 * length seen so far (state a graph does not have), so it is refused rather than approximated. */
export function ropeInvFreq(cfg: ModelConfig): Float32Array {
  if (cfg.family !== 'llama') throw new ModelError('unsupported', `${cfg.architecture} has no rotary embeddings`);
  if (cfg.ropeScaling?.type === 'dynamic') {
    throw new ModelError(
      'unsupported',
      `rope_scaling type 'dynamic' is not supported by the graph builders (use linear or llama3)`,
    );
  }
  return Float32Array.from(ropeInverseFrequencies(cfg.headDim, cfg.ropeTheta, cfg.ropeScaling));
}
