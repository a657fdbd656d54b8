// PEFT's lora_dropout: the LoRA branch sees dropout(x), y = base(x) + scale·B(A·dropout(x)), in training only.
// Two ways to draw the mask:
//   'graph' — an ONNX Dropout node (training_mode = true, a fixed seed per module). Self-contained, but the
//             generator lives in the onnxruntime session, so a resumed run draws different masks.
//   'fed'   — the scaled mask is a graph input per module, drawn in JS from (seed, micro-step, module) by
//             `dropoutFeeds`; a resumed run that passes the same micro-step indices draws the same masks.

import { seededRandom } from '../../data/batches.js';
import type { LinearModule, ModelExtensions } from '../../models/extensions.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { attr, type TensorData, type Value } from '../../onnx/ir.js';
import { mul, scalar } from '../../onnx/ops.js';

export type DropoutMode = 'graph' | 'fed';

/** Graph input holding the dropout mask of a module's LoRA input, [rows, in]. */
export const dropoutMaskName = (module: string): string => `lora_dropout_mask:${module}`;

function dropoutNode(b: GraphBuilder, x: Value, ratio: number, seed: number): Value {
  const [y] = b.op(
    'Dropout',
    [x, scalar(b, ratio, x.dtype), scalar(b, 1, 'bool')],
    { seed: attr.int(seed) },
    {
      outputs: 2,
      dtypes: [x.dtype, 'bool'],
      shapes: [x.shape, x.shape],
    },
  );
  return y as Value;
}

// A 32-bit mix of (seed, step, module) so each draw has its own independent stream.
function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h;
}

/** Wraps the LoRA hook so its input goes through dropout on the targeted modules. */
export function withLoraDropout(
  forward: ModelExtensions,
  targets: readonly LinearModule[] | readonly { name: string; inFeatures: number }[],
  ratio: number,
  seed: number,
  mode: DropoutMode,
): { extensions: ModelExtensions; feeds?: (step: number, rows: number) => Record<string, TensorData> } {
  const index = new Map(targets.map((m, i) => [m.name, i]));
  const extensions: ModelExtensions = {
    linear(b, name, x, base, module) {
      const i = index.get(name);
      if (i === undefined) return base;
      const dropped =
        mode === 'graph'
          ? dropoutNode(b, x, ratio, mix(seed, i))
          : mul(b, x, b.input(dropoutMaskName(name), 'float32', ['lora_rows', module.inFeatures])); // [N, in]
      return forward.linear?.(b, name, dropped, base, module) ?? base;
    },
    ...(forward.finish === undefined ? {} : { finish: forward.finish }),
  };
  if (mode === 'graph') return { extensions };
  const keep = 1 / (1 - ratio);
  const feeds = (step: number, rows: number): Record<string, TensorData> => {
    const out: Record<string, TensorData> = {};
    targets.forEach((m, i) => {
      const random = seededRandom(mix(seed, step, i));
      const data = new Float32Array(rows * m.inFeatures);
      for (let j = 0; j < data.length; j++) data[j] = random() < ratio ? 0 : keep;
      out[dropoutMaskName(m.name)] = { dtype: 'float32', dims: [rows, m.inFeatures], data };
    });
    return out;
  };
  return { extensions, feeds };
}
