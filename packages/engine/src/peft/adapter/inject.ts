// Bottleneck adapters applied to a model for training: one adapter per placement site (config.ts, forward.ts),
// initialised as AdapterHub does ("bert": weights N(0, 0.02²), biases 0 — the up-projection near zero, so
// training starts next to the base model; "mam_adapter": down Kaiming-uniform, up exactly 0), or taken from a
// saved adapter.

import { seededRandom } from '../../data/batches.js';
import type { TensorData } from '../../onnx/ir.js';
import { cloneF32, makeApplied, sameDims } from '../applied.js';
import { sumNumel } from '../count.js';
import { PeftError } from '../errors.js';
import { kaimingUniformA } from '../lora/init.js';
import { linearModules } from '../modules.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import { type BottleneckConfig, checkBottleneckConfig } from './config.js';
import { adapterKeys, adapterShapes, adapterSites, bottleneckExtension, bottleneckSize } from './forward.js';
import { saveBottleneck } from './state.js';

function normalTensor(dims: number[], std: number, random: () => number): TensorData {
  const data = new Float32Array(dims.reduce((a, d) => a * d, 1));
  for (let i = 0; i < data.length; i++) {
    // Box–Muller on the engine's seeded generator
    const u = Math.max(random(), 1e-12);
    data[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  return { dtype: 'float32', dims, data };
}

const zeros = (dims: number[]): TensorData => ({
  dtype: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, d) => a * d, 1)),
});

/** reduction_factor from a bottleneck size (exact division), so the saved config says what trained. */
export function resolveBottleneckConfig(c: BottleneckConfig, hidden: number): BottleneckConfig {
  if (c.bottleneckSize === undefined) return c;
  const { bottleneckSize: n, ...rest } = c;
  if (hidden % n !== 0) {
    const divisors = [8, 16, 32, 64, 128, 256].filter((d) => d <= hidden && hidden % d === 0);
    throw new PeftError(
      'bad-config',
      `bottleneck_size ${n} does not divide the hidden size ${hidden}${divisors.length > 0 ? ` (e.g. ${divisors.join(', ')} do)` : ''}`,
    );
  }
  return { ...rest, reductionFactor: hidden / n };
}

export function applyBottleneck(model: BaseModel, userConfig: BottleneckConfig, opts: ApplyOptions): AppliedMethod {
  checkBottleneckConfig(userConfig, 'adapter config');
  const config = resolveBottleneckConfig(userConfig, model.config.hiddenSize);
  const sites = adapterSites(model.config, linearModules(model), config);
  const D = model.config.hiddenSize;
  const n = bottleneckSize(D, config);
  const shapes = adapterShapes(D, n);
  const random = seededRandom(opts.seed);
  const init = new Map(opts.init ?? []);
  const params = new Map<string, TensorData>();
  for (const site of sites) {
    const keys = adapterKeys(site.prefix);
    const fresh = {
      downW: config.initWeights === 'bert' ? normalTensor(shapes.downW, 0.02, random) : kaimingUniformA(n, D, random),
      downB: zeros(shapes.downB),
      upW: config.initWeights === 'bert' ? normalTensor(shapes.upW, 0.02, random) : zeros(shapes.upW),
      upB: zeros(shapes.upB),
    };
    for (const part of ['downW', 'downB', 'upW', 'upB'] as const) {
      const key = keys[part];
      const given = init.get(key);
      if (given === undefined && opts.init !== undefined)
        throw new PeftError('adapter-mismatch', `initial adapter has no '${key}' (placement ${site.module})`);
      if (given !== undefined && !sameDims(given.dims, shapes[part]))
        throw new PeftError(
          'adapter-mismatch',
          `initial adapter tensor '${key}' is [${given.dims.join(', ')}]; this model (hidden ${D}) and reduction_factor ${config.reductionFactor} need [${shapes[part].join(', ')}]`,
        );
      init.delete(key);
      params.set(key, given === undefined ? fresh[part] : cloneF32(given));
    }
  }
  if (init.size > 0)
    throw new PeftError(
      'adapter-mismatch',
      `initial adapter tensors have no place in this model and config: ${[...init.keys()].slice(0, 3).join(', ')}`,
    );
  const forward = bottleneckExtension(config, sites, params, { trainable: true });
  const baseDir = model.dir;
  return makeApplied({
    method: 'adapter',
    config,
    model,
    params,
    extensions: forward,
    noDecay: new Set([...params.keys()].filter((k) => k.endsWith('.bias'))),
    extraTotal: sumNumel(params.values()),
    save: (dir, trained) =>
      saveBottleneck(dir, { ...config, baseModelNameOrPath: config.baseModelNameOrPath ?? baseDir ?? null }, trained),
  });
}
