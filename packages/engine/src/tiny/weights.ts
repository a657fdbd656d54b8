// Random initialisation in the spirit of transformers' _init_weights: matrices and embeddings ~ N(0, 0.02).
// Norm gains and biases are perturbed away from 1 and 0 (transformers starts them exactly there) so that a
// model that mishandles a norm weight or a bias gives different numbers instead of the same ones by accident.

import { createRng, type Rng } from '../infer/rng.js';
import type { ModelConfig } from '../io/config.js';
import { expectedWeights } from '../io/weights.js';
import type { TensorData } from '../onnx/ir.js';

const INIT_STD = 0.02;
const GAIN_STD = 0.1;
const BIAS_STD = 0.02;

/** Standard normal draws by Box-Muller, both values of each pair used. */
function gaussian(rng: Rng): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - rng.next(); // (0, 1]: log stays finite
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

function isNormGain(name: string): boolean {
  return /(layernorm|norm|ln_\d|ln_f)\.weight$/.test(name);
}

/** Every tensor the config's checkpoint holds (tied lm_head omitted), float32, drawn from one seeded stream. */
export function initWeights(config: ModelConfig, seed: number): Record<string, TensorData> {
  const normal = gaussian(createRng(seed));
  const out: Record<string, TensorData> = {};
  for (const spec of expectedWeights(config)) {
    if (spec.optional) continue;
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const data = new Float32Array(n);
    if (isNormGain(spec.name)) for (let i = 0; i < n; i++) data[i] = 1 + GAIN_STD * normal();
    else if (spec.name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = BIAS_STD * normal();
    else for (let i = 0; i < n; i++) data[i] = INIT_STD * normal();
    out[spec.name] = { dtype: 'float32', dims: [...spec.shape], data };
  }
  return out;
}
