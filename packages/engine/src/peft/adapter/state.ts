// The saved form of bottleneck adapters: PEFT's two files, adapter_config.json (our peft_type, AdapterHub's
// field names; see config.ts) and adapter_model.safetensors (the adapter tensors under their graph names).

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from '../../io/peft-adapter.js';
import { loadSafetensors } from '../../io/safetensors-read.js';
import { writeSafetensors } from '../../io/safetensors-write.js';
import type { TensorData } from '../../onnx/ir.js';
import { PeftError } from '../errors.js';
import {
  BOTTLENECK_PEFT_TYPE,
  type BottleneckConfig,
  bottleneckConfigToJson,
  parseBottleneckConfig,
} from './config.js';

export async function saveBottleneck(
  dir: string,
  config: BottleneckConfig,
  tensors: ReadonlyMap<string, TensorData>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  // the config last, atomically: a directory with a config always has its weights
  const tmp = join(dir, `${ADAPTER_CONFIG_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(bottleneckConfigToJson(config), null, 2)}\n`);
  await rename(tmp, join(dir, ADAPTER_CONFIG_FILE));
}

/** Whether `dir` holds a bottleneck adapter (adapter_config.json with our peft_type). */
export async function isBottleneckDir(dir: string): Promise<boolean> {
  try {
    const json = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG_FILE), 'utf8')) as { peft_type?: unknown };
    return json.peft_type === BOTTLENECK_PEFT_TYPE;
  } catch {
    return false;
  }
}

export interface LoadedBottleneck {
  readonly dir: string;
  readonly config: BottleneckConfig;
  readonly tensors: Map<string, TensorData>;
}

export async function loadBottleneck(dir: string): Promise<LoadedBottleneck> {
  const file = join(dir, ADAPTER_CONFIG_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new PeftError('bad-adapter-dir', `${file}: missing or not valid JSON`, { cause });
  }
  const config = parseBottleneckConfig(json, file);
  const tensors = await loadSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), { dtype: 'float32' }).catch((cause) => {
    throw new PeftError('bad-adapter-dir', `${dir}: cannot read ${ADAPTER_WEIGHTS_FILE}`, { cause });
  });
  return { dir, config, tensors };
}
