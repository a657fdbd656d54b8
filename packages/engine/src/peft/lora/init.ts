// PEFT's LoRA initialisation: A = kaiming_uniform_(a=√5), B = 0, so the adapter starts as the identity.
// kaiming_uniform_ with a = √5 on a [r, in] weight draws U(−bound, bound) with
// bound = gain·√(3/fan_in), gain = √(2/(1+a²)) = √(1/3), i.e. bound = 1/√in.

import type { TensorData } from '../../onnx/ir.js';

export function kaimingUniformA(r: number, inFeatures: number, random: () => number): TensorData {
  const a = Math.sqrt(5);
  const bound = Math.sqrt(6 / ((1 + a * a) * inFeatures));
  const data = new Float32Array(r * inFeatures);
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * bound;
  return { dtype: 'float32', dims: [r, inFeatures], data };
}

export function zerosB(outFeatures: number, r: number): TensorData {
  return { dtype: 'float32', dims: [outFeatures, r], data: new Float32Array(outFeatures * r) };
}
