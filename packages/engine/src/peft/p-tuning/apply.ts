// P-tuning (PEFT P_TUNING) applied for training: the prompt encoder's tensors are the params; its output, the
// virtual tokens, enters the model as prompt tuning's do. save() writes PEFT's form (the encoder output as
// prompt_embeddings) plus the encoder itself for resuming.

import type { ModelExtensions } from '../../models/extensions.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData, Value } from '../../onnx/ir.js';
import { makeApplied } from '../applied.js';
import { sumNumel } from '../count.js';
import { PeftError } from '../errors.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import {
  checkVirtualTokens,
  evaluate,
  modelDims,
  normal,
  PROMPT_EMBEDDINGS,
  savePromptLearning,
  seededRandom,
  takeInit,
  uniform,
} from '../virtual-tokens.js';
import { checkPTuningConfig, type PTuningConfig, pTuningFields } from './config.js';
import {
  buildPromptEncoder,
  type EncoderShape,
  encoderTensors,
  initializerGetter,
  lstmDropoutFeeds,
} from './encoder.js';

export function pTuningShape(model: BaseModel, c: PTuningConfig): EncoderShape {
  const D = model.config.hiddenSize;
  return { n: c.numVirtualTokens, D, h: c.encoderHiddenSize ?? D };
}

/** The virtual-token extension whose tokens the encoder computes from `params`. */
export function pTuningExtension(
  c: PTuningConfig,
  s: EncoderShape,
  params: ReadonlyMap<string, TensorData>,
  opts: { trainable: boolean; training: boolean },
): ModelExtensions {
  const made = new WeakMap<GraphBuilder, Value>();
  return {
    virtual: {
      count: s.n,
      kind: 'embeddings',
      embeddings(b) {
        let v = made.get(b);
        if (v === undefined) {
          v = buildPromptEncoder(b, c, s, initializerGetter(b, params, opts.trainable), opts);
          made.set(b, v);
        }
        return v;
      },
    },
  };
}

export function applyPTuning(model: BaseModel, config: PTuningConfig, opts: ApplyOptions): AppliedMethod {
  checkPTuningConfig(config, 'P-tuning config');
  checkVirtualTokens(model, config.numVirtualTokens, 'P-tuning');
  const s = pTuningShape(model, config);
  if (opts.init !== undefined && opts.init.has(PROMPT_EMBEDDINGS) && opts.init.size === 1)
    throw new PeftError(
      'adapter-mismatch',
      `P-tuning: the initial adapter holds only PEFT's prompt_embeddings (the encoder output), not the encoder (tunemesh_prompt_encoder.safetensors); continue it with prompt tuning instead`,
    );
  const init = opts.init === undefined ? undefined : new Map([...opts.init].filter(([k]) => k !== PROMPT_EMBEDDINGS));
  const random = seededRandom(opts.seed);
  const fresh = new Map(
    [...encoderTensors(config, s)].map(([name, t]) => [
      name,
      { dims: t.dims, make: () => (t.fanIn === null ? normal(t.dims, random) : uniform(t.dims, t.fanIn, random)) },
    ]),
  );
  const params = takeInit(fresh, init, 'P-tuning');
  const ext = (training: boolean) => pTuningExtension(config, s, params, { trainable: true, training });
  const dropout =
    config.encoderReparameterizationType === 'LSTM' && config.encoderDropout > 0 && config.encoderNumLayers > 1;
  return makeApplied({
    method: 'p-tuning',
    config,
    model,
    params,
    extensions: ext(true),
    evalExtensions: ext(false),
    noDecay: new Set(),
    extraTotal: sumNumel(params.values()),
    save: async (dir, trained) => {
      const promptEmbeddings = await evaluate(trained, (b, get) =>
        buildPromptEncoder(b, config, s, get, { training: false }),
      );
      await savePromptLearning(dir, {
        peftType: 'P_TUNING',
        common: config,
        dims: modelDims(model.config),
        fields: pTuningFields(config, s.D),
        promptEmbeddings,
        encoder: trained,
        baseDir: model.dir,
      });
    },
    ...(dropout && { stepFeeds: (step: number) => lstmDropoutFeeds(config, s, opts.seed, step) }),
  });
}
