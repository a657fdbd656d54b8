import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TensorData } from '../onnx/ir.js';
import { PeftFormatError } from './errors.js';
import {
  matchesTargetModules,
  type PeftAdapterConfig,
  parsePeftConfig,
  patternValue,
  peftConfigToJson,
} from './peft-config.js';
import { type PeftKey, parsePeftKey } from './peft-keys.js';
import { loadSafetensors } from './safetensors-read.js';
import { writeSafetensors } from './safetensors-write.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export interface PeftAdapter {
  readonly config: PeftAdapterConfig;
  /** Tensors under PEFT's saved key names. */
  readonly tensors: Map<string, TensorData>;
}

export interface LoadedPeftAdapter extends PeftAdapter {
  readonly dir: string;
  /** Each tensor's module path and role, by key. */
  readonly keys: ReadonlyMap<string, PeftKey>;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** Read an adapter directory (adapter_config.json + adapter_model.safetensors) and check the tensors fit the config. */
export async function loadPeftAdapter(
  dir: string,
  opts: { dtype?: 'float32' | 'float16' } = {},
): Promise<LoadedPeftAdapter> {
  const configFile = join(dir, ADAPTER_CONFIG_FILE);
  const weightsFile = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!(await isFile(configFile))) throw new PeftFormatError('missing-config', `${dir}: no ${ADAPTER_CONFIG_FILE}`);
  if (!(await isFile(weightsFile))) {
    const hint = (await isFile(join(dir, 'adapter_model.bin')))
      ? ' (adapter_model.bin is not supported: save with safe_serialization)'
      : '';
    throw new PeftFormatError('missing-weights', `${dir}: no ${ADAPTER_WEIGHTS_FILE}${hint}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(configFile, 'utf8'));
  } catch (cause) {
    throw new PeftFormatError('invalid-json', `${configFile}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  const config = parsePeftConfig(json, configFile);
  const tensors = await loadSafetensors(weightsFile, { dtype: opts.dtype ?? 'float32' });
  const keys = checkAdapterTensors(config, tensors, weightsFile);
  return { dir, config, tensors, keys };
}

/** Write an adapter directory in PEFT's layout; the result loads in PEFT's PeftModel.from_pretrained. */
export async function savePeftAdapter(dir: string, adapter: PeftAdapter): Promise<void> {
  checkAdapterTensors(adapter.config, adapter.tensors, join(dir, ADAPTER_WEIGHTS_FILE));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, ADAPTER_CONFIG_FILE), `${JSON.stringify(peftConfigToJson(adapter.config), null, 2)}\n`);
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), adapter.tensors, { format: 'pt' });
}

function dims(t: TensorData): string {
  return `[${t.dims.join(', ')}]`;
}

/** Validate adapter tensors against their config; returns the parsed key of each. */
export function checkAdapterTensors(
  config: PeftAdapterConfig,
  tensors: ReadonlyMap<string, TensorData>,
  file: string,
): Map<string, PeftKey> {
  const keys = new Map<string, PeftKey>();
  const bad = (key: string, why: string) => new PeftFormatError('bad-tensor', `${file}: tensor "${key}" ${why}`);
  for (const [key, t] of tensors) {
    const k = parsePeftKey(key, file);
    keys.set(key, k);
    if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16' && t.dtype !== 'float64')
      throw bad(key, `has dtype ${t.dtype}; adapters hold floating-point tensors`);
  }
  const saved = (module: string) =>
    (config.peftType === 'LORA' || config.peftType === 'IA3') &&
    (config.modulesToSave ?? []).some((m) => module === m || module.endsWith(`.${m}`));
  if (config.peftType === 'LORA') {
    const a = new Map<string, TensorData>();
    const b = new Map<string, TensorData>();
    for (const [key, k] of keys) {
      const t = tensors.get(key) as TensorData;
      switch (k.role) {
        case 'lora_A':
        case 'lora_embedding_A':
          a.set(k.module, t);
          break;
        case 'lora_B':
        case 'lora_embedding_B':
          b.set(k.module, t);
          break;
        case 'lora_magnitude_vector':
          if (!config.useDora) throw bad(key, 'is a DoRA magnitude but use_dora is false');
          break;
        case 'lora_B_bias':
          break;
        case 'bias':
          if (config.bias === 'none' && !saved(k.module)) throw bad(key, 'is a bias but the config says bias "none"');
          break;
        case 'weight':
          if (!saved(k.module)) throw bad(key, 'is a full module weight but the module is not in modules_to_save');
          break;
        default:
          throw bad(key, `is a ${k.role} tensor, which a LORA adapter does not have`);
      }
    }
    for (const [module, tA] of a) {
      const tB = b.get(module);
      const key = `${module}.lora_A`;
      if (!tB) throw new PeftFormatError('unpaired-lora', `${file}: module ${module} has lora_A but no lora_B`);
      const r = patternValue(config.rankPattern, module, config.r);
      // Linear: A [r, in], B [out, r]; embedding: A [r, vocab], B [dim, r]; conv: A [r, in, k, k], B [out, r, 1, 1].
      if (tA.dims[0] !== r) throw bad(key, `has shape ${dims(tA)}; its first dimension must be the rank ${r}`);
      if (tB.dims.length < 2 || tB.dims[1] !== r)
        throw bad(`${module}.lora_B`, `has shape ${dims(tB)}; its second dimension must be the rank ${r}`);
    }
    for (const module of b.keys())
      if (!a.has(module))
        throw new PeftFormatError('unpaired-lora', `${file}: module ${module} has lora_B but no lora_A`);
  } else if (config.peftType === 'IA3') {
    for (const [key, k] of keys) {
      const t = tensors.get(key) as TensorData;
      if (k.role === 'weight' || k.role === 'bias') {
        if (!saved(k.module)) throw bad(key, 'is not an ia3_l vector and its module is not in modules_to_save');
        continue;
      }
      if (k.role !== 'ia3_l') throw bad(key, `is a ${k.role} tensor, which an IA3 adapter does not have`);
      // Feed-forward targets scale the input ([1, in]); the others scale the output ([out, 1]).
      const ff = matchesTargetModules(config.feedforwardModules, k.module);
      if (t.dims.length !== 2 || (ff ? t.dims[0] !== 1 : t.dims[1] !== 1))
        throw bad(key, `has shape ${dims(t)}; expected ${ff ? '[1, in]' : '[out, 1]'}`);
    }
  } else {
    const t = tensors.get('prompt_embeddings');
    if (!t)
      throw new PeftFormatError(
        'missing-tensor',
        `${file}: a ${config.peftType} adapter needs a "prompt_embeddings" tensor`,
      );
    for (const key of keys.keys())
      if (key !== 'prompt_embeddings') throw bad(key, `is not part of a ${config.peftType} adapter`);
    const rows = config.numVirtualTokens * config.numTransformerSubmodules;
    if (t.dims.length !== 2 || t.dims[0] !== rows)
      throw bad(
        'prompt_embeddings',
        `has shape ${dims(t)}; expected ${rows} rows (num_virtual_tokens × num_transformer_submodules)`,
      );
    if (config.peftType !== 'PREFIX_TUNING' && config.tokenDim !== null && t.dims[1] !== config.tokenDim) {
      throw bad('prompt_embeddings', `has shape ${dims(t)}; expected token_dim ${config.tokenDim} columns`);
    }
  }
  return keys;
}
