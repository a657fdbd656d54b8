// A base model with whatever a training run saved, ready for evaluation and generation: a PEFT LoRA adapter
// (including trained biases and modules_to_save copies, which models/loadCausalLM's LoRA loader leaves out, and
// DoRA's magnitudes), a PEFT IA3 adapter, a bottleneck adapter (our peft_type) or a BitFit directory. A fully fine-tuned model is a model directory of its own and needs no adapter.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelDir } from '../io/model-dir.js';
import { ADAPTER_CONFIG_FILE, type LoadedPeftAdapter, loadPeftAdapter } from '../io/peft-adapter.js';
import { parsePeftKey } from '../io/peft-keys.js';
import { buildCausalLM } from '../models/causal-lm.js';
import { composeExtensions } from '../models/extensions.js';
import type { LoadedCausalLM } from '../models/load.js';
import { loraExtension } from '../models/lora.js';
import type { TensorData } from '../onnx/ir.js';
import { adapterSites, bottleneckExtension, checkAdapterTensors } from './adapter/forward.js';
import { isBottleneckDir, loadBottleneck } from './adapter/state.js';
import { sameDims } from './applied.js';
import { isBitfitDir, loadBitfit, withBitfit } from './bitfit/state.js';
import { PeftError } from './errors.js';
import { asIa3Config, resolveIa3Config } from './ia3/config.js';
import { ia3Extension } from './ia3/forward.js';
import { asLoraConfig } from './lora/config.js';
import { doraExtension } from './lora/dora.js';
import { paramNameOf } from './lora/state.js';
import { linearModules } from './modules.js';
import { savedPrefixExtension } from './prefix-tuning/apply.js';
import { promptEmbeddingExtension } from './prompt-tuning/apply.js';
import { checkAgainstModel, PROMPT_EMBEDDINGS } from './virtual-tokens.js';

/** Splits a LoRA adapter into its A/B tensors and the checkpoint tensors it replaces (biases, modules_to_save). */
function splitLora(
  adapter: LoadedPeftAdapter,
  weights: ReadonlyMap<string, TensorData>,
): { lora: Map<string, TensorData>; replaced: Map<string, TensorData> } {
  const lora = new Map<string, TensorData>();
  const replaced = new Map(weights);
  for (const [key, t] of adapter.tensors) {
    const role = parsePeftKey(key).role;
    if (role === 'lora_A' || role === 'lora_B' || role === 'lora_magnitude_vector') {
      lora.set(key, t);
      continue;
    }
    const name = paramNameOf(key);
    const base = weights.get(name);
    if (base === undefined || !sameDims(base.dims, t.dims))
      throw new PeftError(
        'adapter-mismatch',
        `${adapter.dir}: '${key}' replaces '${name}', which the model ${base === undefined ? 'does not have' : `has as [${base.dims.join(', ')}]`}`,
      );
    replaced.set(name, t);
  }
  return { lora, replaced };
}

export async function loadTrainedModel(modelDir: string, adapterDir?: string): Promise<LoadedCausalLM> {
  const { config, weights: base } = await loadModelDir(modelDir, { dtype: 'float32' });
  let weights: ReadonlyMap<string, TensorData> = base;
  let adapter: LoadedPeftAdapter | null = null;
  let extensions = {};
  if (adapterDir !== undefined) {
    if (await isBottleneckDir(adapterDir)) {
      const a = await loadBottleneck(adapterDir);
      const sites = adapterSites(config, linearModules({ config, weights: base }), a.config);
      checkAdapterTensors(config, a.config, sites, a.tensors, adapterDir);
      extensions = bottleneckExtension(a.config, sites, a.tensors);
    } else if (await stat(join(adapterDir, ADAPTER_CONFIG_FILE)).catch(() => undefined)) {
      adapter = await loadPeftAdapter(adapterDir, { dtype: 'float32' });
      const where = join(adapterDir, ADAPTER_CONFIG_FILE);
      if (adapter.config.peftType === 'IA3') {
        extensions = ia3Extension(resolveIa3Config(asIa3Config(adapter.config, where), config), adapter.tensors);
      } else if (adapter.config.peftType !== 'LORA') {
        // prompt learning: PEFT's prompt_embeddings (the encoder output) is all evaluation needs
        checkAgainstModel(adapter.config, config, where);
        const t = adapter.tensors.get(PROMPT_EMBEDDINGS) as TensorData;
        if (adapter.config.peftType === 'PREFIX_TUNING') extensions = savedPrefixExtension(config, t, where);
        else {
          if (t.dims[1] !== config.hiddenSize)
            throw new PeftError(
              'adapter-mismatch',
              `${where}: prompt_embeddings is [${t.dims.join(', ')}]; ${config.architecture} embeds tokens in ${config.hiddenSize} dimensions — an adapter for another base model?`,
            );
          extensions = promptEmbeddingExtension(PROMPT_EMBEDDINGS, t, false);
        }
      } else {
        const cfg = asLoraConfig(adapter.config, where);
        const { lora, replaced } = splitLora(adapter, base);
        weights = replaced;
        const adapterOnly = { ...cfg, bias: 'none', modulesToSave: null } as const;
        extensions = cfg.useDora ? doraExtension(adapterOnly, lora) : loraExtension(adapterOnly, lora);
      }
    } else if (await isBitfitDir(adapterDir)) {
      weights = withBitfit(base, (await loadBitfit(adapterDir)).tensors, adapterDir);
    } else {
      throw new PeftError(
        'bad-adapter-dir',
        `${adapterDir}: neither a PEFT adapter (${ADAPTER_CONFIG_FILE}) nor a BitFit result (tunemesh_config.json)`,
      );
    }
  }
  const ext = extensions;
  return {
    dir: modelDir,
    config,
    weights,
    adapter,
    extensions: ext,
    build(mode, opts = {}) {
      const all = opts.extensions === undefined ? ext : composeExtensions(ext, opts.extensions);
      return buildCausalLM(config, weights, { ...opts, mode, extensions: all });
    },
  };
}
