// Where bottleneck adapters sit and what they compute. Each adapter takes a sub-layer's output h [N, D] — the
// attention block's output projection (mh_adapter) or the feed-forward block's (output_adapter), before the
// block's residual add, as Houlsby et al. place them — and returns
//   h + scaling · up(act(down(h)))      down: [D/reduction_factor, D] + bias, up: [D, D/reduction_factor] + bias
// through the `linear` extension point of that projection. Tensors are named AdapterHub-style under the layer:
// `<layer>.attention_adapters.adapter_down.weight`, `<layer>.output_adapters.adapter_up.bias`, ...

import type { ModelConfig } from '../../io/config.js';
import type { ModelExtensions } from '../../models/extensions.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData, Value } from '../../onnx/ir.js';
import { add, erf, fusedMatMul, mul, relu, sigmoid, tanh } from '../../onnx/ops.js';
import { sameDims } from '../applied.js';
import { PeftError } from '../errors.js';
import { describeLinears, type LinearInfo } from '../modules.js';
import type { BottleneckConfig, NonLinearity } from './config.js';

export interface AdapterSite {
  readonly layer: number;
  readonly kind: 'attention' | 'output';
  /** The projection whose output the adapter takes. */
  readonly module: string;
  /** Tensor name prefix: `<layer>.attention_adapters` or `<layer>.output_adapters`. */
  readonly prefix: string;
}

/** The attention-output and feed-forward-output projections of a layer, per architecture family. */
function siteModules(cfg: ModelConfig, layer: number): { layerPath: string; attention: string; output: string } {
  if (cfg.family === 'gpt2') {
    const p = `transformer.h.${layer}`;
    return { layerPath: p, attention: `${p}.attn.c_proj`, output: `${p}.mlp.c_proj` };
  }
  const p = `model.layers.${layer}`;
  return { layerPath: p, attention: `${p}.self_attn.o_proj`, output: `${p}.mlp.down_proj` };
}

/** Every adapter the config places in the model; placements the model lacks are errors naming what it has. */
export function adapterSites(cfg: ModelConfig, linears: readonly LinearInfo[], c: BottleneckConfig): AdapterSite[] {
  const bad = c.leaveOut.filter((l) => l >= cfg.numLayers);
  if (bad.length > 0)
    throw new PeftError(
      'unknown-target',
      `leave_out names layer${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; ${cfg.architecture} has layers 0..${cfg.numLayers - 1}`,
    );
  const names = new Set(linears.map((m) => m.name));
  const sites: AdapterSite[] = [];
  for (let layer = 0; layer < cfg.numLayers; layer++) {
    if (c.leaveOut.includes(layer)) continue;
    const s = siteModules(cfg, layer);
    for (const kind of ['attention', 'output'] as const) {
      if (kind === 'attention' ? !c.mhAdapter : !c.outputAdapter) continue;
      const module = s[kind];
      if (!names.has(module))
        throw new PeftError(
          'unknown-target',
          `${kind === 'attention' ? 'mh_adapter' : 'output_adapter'}: ${cfg.architecture} has no '${module}' to place the adapter after; its linear modules: ${describeLinears(linears)}`,
        );
      sites.push({ layer, kind, module, prefix: `${s.layerPath}.${kind}_adapters` });
    }
  }
  if (sites.length === 0)
    throw new PeftError('nothing-to-train', `leave_out [${c.leaveOut.join(', ')}] leaves no layer with an adapter`);
  return sites;
}

/** AdapterHub's bottleneck size: hidden // reduction_factor, at least 1. */
export function bottleneckSize(hidden: number, c: BottleneckConfig): number {
  const n = Math.floor(hidden / c.reductionFactor);
  if (n < 1)
    throw new PeftError(
      'bad-config',
      `reduction_factor ${c.reductionFactor} leaves no bottleneck for hidden size ${hidden} (use at most ${hidden})`,
    );
  return n;
}

export const adapterKeys = (prefix: string) => ({
  downW: `${prefix}.adapter_down.weight`,
  downB: `${prefix}.adapter_down.bias`,
  upW: `${prefix}.adapter_up.weight`,
  upB: `${prefix}.adapter_up.bias`,
});

/** Shapes of one adapter's tensors (nn.Linear layout) for hidden size D and bottleneck n. */
export function adapterShapes(D: number, n: number): Record<keyof ReturnType<typeof adapterKeys>, number[]> {
  return { downW: [n, D], downB: [n], upW: [D, n], upB: [D] };
}

function activate(b: GraphBuilder, act: NonLinearity, x: Value): Value {
  switch (act) {
    case 'relu':
      return relu(b, x);
    case 'swish':
    case 'silu':
      return mul(b, x, sigmoid(b, x));
    case 'gelu':
      // exact GELU (transformers' "gelu", which AdapterHub's get_activation gives): 0.5·x·(1 + erf(x/√2))
      return mul(b, mul(b, x, 0.5), add(b, erf(b, mul(b, x, Math.SQRT1_2)), 1));
    case 'gelu_new': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const inner = mul(b, add(b, x, mul(b, mul(b, mul(b, x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
      return mul(b, mul(b, x, 0.5), add(b, tanh(b, inner), 1));
    }
    case 'tanh':
      return tanh(b, x);
  }
}

/** The hook that runs each site's adapter on its projection's output. */
export function bottleneckExtension(
  c: BottleneckConfig,
  sites: readonly AdapterSite[],
  tensors: ReadonlyMap<string, TensorData>,
  opts: { trainable?: boolean } = {},
): ModelExtensions {
  const byModule = new Map(sites.map((s) => [s.module, s]));
  const consumed = new Set<string>();
  return {
    linear(b, name, _x, base, module) {
      const site = byModule.get(name);
      if (site === undefined) return base;
      const D = module.outFeatures;
      const k = adapterKeys(site.prefix);
      const down = tensors.get(k.downW);
      const n = down?.dims[0] ?? 0;
      const shapes = adapterShapes(D, n);
      const init = (key: keyof typeof k) => {
        const t = tensors.get(k[key]);
        if (t === undefined || !sameDims(t.dims, shapes[key]))
          throw new PeftError(
            'adapter-mismatch',
            `bottleneck adapter tensor '${k[key]}' is ${t === undefined ? 'missing' : `[${t.dims.join(', ')}]`}; the model's '${name}' (hidden ${D}) needs [${shapes[key].join(', ')}] (is this adapter for another base model?)`,
          );
        consumed.add(k[key]);
        return b.initializer(k[key], t, { trainable: opts.trainable ?? false });
      };
      const h = base; // [N, D]
      const z = add(b, fusedMatMul(b, h, init('downW'), { transB: true }), init('downB')); // [N, n]
      const up = add(b, fusedMatMul(b, activate(b, c.nonLinearity, z), init('upW'), { transB: true }), init('upB')); // [N, D]
      return add(b, h, c.scaling === 1 ? up : mul(b, up, c.scaling)); // [N, D]
    },
    finish() {
      const unused = [...tensors.keys()].filter((key) => !consumed.has(key)).sort();
      if (unused.length > 0)
        throw new PeftError(
          'adapter-mismatch',
          `bottleneck adapter tensors have no place in this model and config: ${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ` and ${unused.length - 3} more` : ''}`,
        );
    },
  };
}

/** Checks up front that a saved adapter's tensors are exactly the ones this model and config place. */
export function checkAdapterTensors(
  cfg: ModelConfig,
  c: BottleneckConfig,
  sites: readonly AdapterSite[],
  tensors: ReadonlyMap<string, TensorData>,
  where: string,
): void {
  const D = cfg.hiddenSize;
  const shapes = adapterShapes(D, bottleneckSize(D, c));
  const expected = new Set<string>();
  for (const s of sites) {
    const k = adapterKeys(s.prefix);
    for (const part of ['downW', 'downB', 'upW', 'upB'] as const) {
      expected.add(k[part]);
      const t = tensors.get(k[part]);
      if (t === undefined || !sameDims(t.dims, shapes[part]))
        throw new PeftError(
          'adapter-mismatch',
          `${where}: bottleneck adapter tensor '${k[part]}' is ${t === undefined ? 'missing' : `[${t.dims.join(', ')}]`}; ${cfg.architecture} (hidden ${D}, reduction_factor ${c.reductionFactor}) needs [${shapes[part].join(', ')}] (is this adapter for another base model?)`,
        );
    }
  }
  const extra = [...tensors.keys()].filter((k) => !expected.has(k)).sort();
  if (extra.length > 0)
    throw new PeftError(
      'adapter-mismatch',
      `${where}: bottleneck adapter tensors have no place in ${cfg.architecture}: ${extra.slice(0, 3).join(', ')}`,
    );
}
