// Trainable / total parameter counts as PEFT's print_trainable_parameters reports them.

import type { TensorData } from '../onnx/ir.js';
import type { ParamCount } from './types.js';

export function numel(t: TensorData): number {
  return t.dims.reduce((a, d) => a * d, 1);
}

export function sumNumel(tensors: Iterable<TensorData>): number {
  let n = 0;
  for (const t of tensors) n += numel(t);
  return n;
}

export function paramCount(trainable: number, total: number): ParamCount {
  return { trainable, total, percent: total === 0 ? 0 : (100 * trainable) / total };
}

const grouped = (n: number) => n.toLocaleString('en-US');

/** `trainable params: 1,234 || all params: 5,678 || trainable%: 21.7326`, PEFT's line. */
export function formatParamCount(c: ParamCount): string {
  return `trainable params: ${grouped(c.trainable)} || all params: ${grouped(c.total)} || trainable%: ${c.percent.toFixed(4)}`;
}
