// IA3 applied to a model for training: pick the targets (PEFT's matching), create each ia3_l (ones, PEFT's
// init_ia3_weights) or take it from a saved adapter, and put them in the graph through ia3Extension.

import { savePeftAdapter } from '../../io/peft-adapter.js';
import { formatPeftKey } from '../../io/peft-keys.js';
import type { TensorData } from '../../onnx/ir.js';
import { cloneF32, makeApplied, sameDims } from '../applied.js';
import { sumNumel } from '../count.js';
import { PeftError } from '../errors.js';
import { describeLinears, type LinearInfo, linearModules } from '../modules.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import { checkIa3Config, type Ia3Config, resolveIa3Config } from './config.js';
import { ia3Dims, ia3Extension, ia3Role } from './forward.js';

export interface Ia3Target {
  readonly module: LinearInfo;
  readonly role: 'input' | 'output';
  readonly key: string;
}

/** The modules a (resolved) IA3 config wraps; a listed name that matches no linear module is an error. */
export function ia3Targets(model: BaseModel, config: Ia3Config): Ia3Target[] {
  const mods = linearModules(model);
  const listAll = () => `the model's linear modules: ${describeLinears(mods)}`;
  for (const [field, t] of [
    ['target_modules', config.targetModules],
    ['feedforward_modules', config.feedforwardModules],
  ] as const) {
    if (t?.kind !== 'list') continue;
    const missing = t.names.filter((n) => !mods.some((m) => m.name === n || m.name.endsWith(`.${n}`)));
    if (missing.length > 0)
      throw new PeftError(
        'unknown-target',
        `IA3 ${field} ${missing.map((n) => `'${n}'`).join(', ')} not found in the model; ${listAll()}`,
      );
  }
  const out: Ia3Target[] = [];
  for (const m of mods) {
    const role = ia3Role(config, m.name, m.isOutput);
    if (role !== null) out.push({ module: m, role, key: formatPeftKey(m.name, 'ia3_l') });
  }
  if (out.length === 0)
    throw new PeftError('unknown-target', `IA3 target_modules match no linear module of the model; ${listAll()}`);
  return out;
}

const ones = (dims: number[]): TensorData => ({
  dtype: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, d) => a * d, 1)).fill(1),
});

export function applyIa3(model: BaseModel, userConfig: Ia3Config, opts: ApplyOptions): AppliedMethod {
  checkIa3Config(userConfig, 'IA3 config');
  const config = resolveIa3Config(userConfig, model.config);
  const targets = ia3Targets(model, config);
  const init = new Map(opts.init ?? []);
  const params = new Map<string, TensorData>();
  for (const t of targets) {
    const dims = ia3Dims(t.role, t.module);
    const given = init.get(t.key);
    if (given !== undefined) {
      if (!sameDims(given.dims, dims))
        throw new PeftError(
          'adapter-mismatch',
          `initial IA3 vector '${t.key}' is [${given.dims.join(', ')}]; this model and config need [${dims.join(', ')}]`,
        );
      init.delete(t.key);
    } else if (opts.init !== undefined) {
      throw new PeftError('adapter-mismatch', `initial adapter has no ia3_l for target module '${t.module.name}'`);
    }
    params.set(t.key, given === undefined ? ones(dims) : cloneF32(given));
  }
  if (init.size > 0)
    throw new PeftError(
      'adapter-mismatch',
      `initial adapter tensors have no place in this model and IA3 config: ${[...init.keys()].slice(0, 3).join(', ')}`,
    );
  const forward = ia3Extension(config, params, { trainable: true });
  const baseDir = model.dir;
  return makeApplied({
    method: 'ia3',
    config,
    model,
    params,
    extensions: forward,
    noDecay: new Set(),
    extraTotal: sumNumel(params.values()),
    save: (dir, trained) =>
      savePeftAdapter(dir, {
        config: {
          ...config,
          inferenceMode: true,
          taskType: config.taskType ?? 'CAUSAL_LM',
          baseModelNameOrPath: config.baseModelNameOrPath ?? baseDir ?? null,
        },
        tensors: new Map(trained),
      }),
  });
}
