// The two graphs a run needs: the training graph (the loss-mode forward plus its backward, differentiated with
// respect to every param) and the validation graph (the same forward without gradients). In both the params
// are graph inputs fed each run, so one session serves the whole run while the values change.

import { buildGradientGraph } from '../autodiff/sweep.js';
import { buildCausalLM, CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import type { Graph, TensorData } from '../onnx/ir.js';
import type { TrainMethod, TrainModel } from './types.js';

export interface TrainGraphs {
  readonly train: Graph;
  readonly eval: Graph;
  /** param name -> gradient output name in the training graph. */
  readonly gradients: Record<string, string>;
}

export function buildTrainGraphs(model: TrainModel, method: TrainMethod): TrainGraphs {
  const forward = (training: boolean): Graph => {
    if (method.buildGraph !== undefined) return method.buildGraph('loss', { training });
    const trainable = method.trainable ?? [...method.params.keys()].filter((n) => model.weights.has(n));
    const weights = new Map<string, TensorData>(model.weights);
    for (const n of trainable) weights.set(n, method.params.get(n) as TensorData);
    const ext = training ? method.extensions : (method.evalExtensions ?? method.extensions);
    return buildCausalLM(model.config, weights, {
      mode: 'loss',
      trainable,
      ...(ext === undefined ? {} : { extensions: ext }),
    });
  };
  const wrt = [...method.params.keys()];
  // The gradient of the summed NLL: the loop adds it over an accumulation window and divides by the window's
  // token count, so a step's gradient is that of the window's token mean (Hugging Face's rule).
  const { graph, gradients } = buildGradientGraph(forward(true), { loss: CAUSAL_LM_NAMES.lossSum, wrt });
  return { train: graph, eval: paramsAsInputs(forward(false), wrt), gradients };
}

/** Turns the named trainable initialisers into graph inputs (as the gradient graph does with its wrt). */
export function paramsAsInputs(g: Graph, names: readonly string[]): Graph {
  const set = new Set(names);
  const moved = g.initializers.filter((i) => set.has(i.name));
  const inputs = moved.map((i) => {
    const v = g.values.get(i.name);
    return v ?? { name: i.name, dtype: i.tensor.dtype, shape: [...i.tensor.dims] };
  });
  return { ...g, inputs: [...g.inputs, ...inputs], initializers: g.initializers.filter((i) => !set.has(i.name)) };
}
