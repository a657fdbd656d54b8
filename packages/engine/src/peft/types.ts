// The contract between a fine-tuning method and the trainer. A method turns a loaded model into the set of
// tensors that train (`params`, by graph initialiser name) plus the hooks that put them in the graph; the
// trainer differentiates the loss with respect to exactly those names, updates them in place and hands them
// back to `save`.

import type { ModelConfig } from '../io/config.js';
import type { CausalLMMode } from '../models/causal-lm.js';
import type { ModelExtensions } from '../models/extensions.js';
import type { Graph, TensorData } from '../onnx/ir.js';
import type { QuantizedWeight } from '../quant/types.js';

/** A loaded base model, as apply() receives it. `dir` lets full fine-tuning copy config and tokenizer files. */
export interface BaseModel {
  readonly config: ModelConfig;
  readonly weights: ReadonlyMap<string, TensorData>;
  /** The Hugging Face model directory the weights came from (config.json, tokenizer files). */
  readonly dir?: string;
}

export interface ApplyOptions {
  /** Seeds the initialisation (LoRA's A) and training-time randomness (dropout masks). */
  readonly seed: number;
  /** Trained values to start from instead of the initialisation (--init-adapter, resume), under saved key names. */
  readonly init?: ReadonlyMap<string, TensorData>;
  /**
   * How training-time randomness (LoRA dropout masks) is drawn: 'fed' (default) — masks are graph inputs the
   * trainer feeds each micro-step from `AppliedMethod.stepFeeds`, so a resumed run draws exactly the masks it
   * would have drawn; 'graph' — dropout nodes seeded once, whose generator lives in the onnxruntime session
   * (cheaper to feed, but a resumed run draws other masks).
   */
  readonly dropoutMasks?: 'graph' | 'fed';
}

export interface ParamCount {
  readonly trainable: number;
  readonly total: number;
  /** 100 · trainable / total. */
  readonly percent: number;
}

export interface BuildGraphOptions {
  /** Training graph (dropout active) or evaluation graph (default true for 'loss', false otherwise). */
  readonly training?: boolean;
  readonly opset?: number;
  /** A quantized base (quant/quantizeModel): these linear weights are read quantized, not from `weights`. */
  readonly quantized?: ReadonlyMap<string, QuantizedWeight>;
}

export interface AppliedMethod {
  readonly method: string;
  /** The method's config as apply() used it (for LoRA: the io LoraAdapterConfig, fan_in_fan_out resolved). */
  readonly config: unknown;
  /** Hooks for buildCausalLM in a training graph (LoRA: the adapter, with dropout when configured). */
  readonly extensions: ModelExtensions | undefined;
  /** Hooks for evaluation graphs: the same tensors, no dropout. */
  readonly evalExtensions: ModelExtensions | undefined;
  /** The trainable tensors (initialised), by graph initialiser name; float32, updated in place by the optimiser. */
  readonly params: Map<string, TensorData>;
  /**
   * Checkpoint tensors the method trains under their own names (full: all of them; BitFit: the biases; LoRA:
   * bias="all"/"lora_only" biases and modules_to_save). They are in `params` too. Pass this list as
   * buildCausalLM's `trainable`; adapter tensors created by the extensions mark themselves.
   */
  readonly trainable: readonly string[];
  /** The base weights with those checkpoint tensors replaced by their `params` entries: buildCausalLM's weights. */
  readonly weights: ReadonlyMap<string, TensorData>;
  /** Params without weight decay (biases, norm weights). */
  readonly noDecay: Set<string>;
  countParams(): ParamCount;
  /** buildCausalLM with this method's weights, trainable list and hooks. */
  buildGraph(mode: CausalLMMode, opts?: BuildGraphOptions): Graph;
  /**
   * Writes the trained state: PEFT's format (adapter_config.json + adapter_model.safetensors) for LoRA, a
   * Hugging Face model directory for full fine-tuning, trained biases + tunemesh_config.json for BitFit.
   */
  save(dir: string, params: ReadonlyMap<string, TensorData>): Promise<void>;
  /**
   * Extra training-graph inputs for one micro-batch of `batch × seq` tokens (dropout masks with
   * dropoutMasks: 'fed'), drawn from (seed, microStep) alone so that resuming at microStep k repeats them.
   * Absent when the training graph needs nothing beyond the batch and the params.
   */
  stepFeeds?(microStep: number, rows: number): Record<string, TensorData>;
}

export interface PeftMethod<C> {
  readonly name: 'lora' | 'full' | 'bitfit' | (string & {});
  /** PEFT's peft_type when PEFT has the method (e.g. 'LORA'). */
  readonly peftType?: string;
  /** Parameter-name prefix selecting what the method's saved file holds, e.g. 'lora_'. Unique per registry. */
  readonly prefix: string;
  /** Validates a config in the method's saved field names (PEFT's for LoRA); `where` names it in errors. */
  parseConfig(json: unknown, where: string): C;
  defaults(): C;
  apply(model: BaseModel, config: C, opts: ApplyOptions): AppliedMethod;
}
