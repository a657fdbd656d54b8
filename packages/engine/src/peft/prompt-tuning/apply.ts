// Prompt tuning (PEFT PROMPT_TUNING): `num_virtual_tokens` trainable embeddings [n, hidden] put before the
// input embeddings (models/virtual.ts does the mask, positions and labels). Initialised as PEFT's
// PromptEmbedding: RANDOM — N(0, 1) (nn.Embedding's init); TEXT — the model's embeddings of the init text's
// token ids, repeated and cut to n; SAMPLE_VOCAB — the embeddings of n token ids drawn uniformly from the
// vocabulary.

import { loadTokenizer } from '../../data/tokenizer.js';
import type { ModelExtensions } from '../../models/extensions.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData, Value } from '../../onnx/ir.js';
import { makeApplied } from '../applied.js';
import { PeftError } from '../errors.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import {
  checkVirtualTokens,
  modelDims,
  normal,
  PROMPT_EMBEDDINGS,
  savePromptLearning,
  seededRandom,
  takeInit,
} from '../virtual-tokens.js';
import { checkPromptTuningConfig, type PromptTuningConfig, promptTuningFields } from './config.js';

/** The input embedding matrix [vocab, hidden] of the model. */
export function wordEmbeddings(model: BaseModel): TensorData {
  const name = model.config.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
  const t = model.weights.get(name);
  if (t === undefined) throw new PeftError('unsupported', `the model has no input embeddings '${name}'`);
  return t;
}

/** Rows `ids` of the embedding matrix, as float32 [ids.length, hidden]. */
export function embeddingRows(model: BaseModel, ids: readonly number[]): TensorData {
  const wte = wordEmbeddings(model);
  const [V, D] = wte.dims as [number, number];
  const data = new Float32Array(ids.length * D);
  ids.forEach((id, i) => {
    if (!(Number.isInteger(id) && id >= 0 && id < V))
      throw new PeftError('bad-config', `prompt tuning init token id ${id} is outside the vocabulary (0..${V - 1})`);
    for (let j = 0; j < D; j++) data[i * D + j] = Number(wte.data[id * D + j]);
  });
  return { dtype: 'float32', dims: [ids.length, D], data };
}

/** PEFT's TEXT init: the text's ids cut to n, or repeated ⌈n/len⌉ times and cut. */
export function repeatToLength(ids: readonly number[], n: number): number[] {
  if (ids.length === 0) throw new PeftError('bad-config', 'prompt_tuning_init_text has no tokens');
  const reps = Math.ceil(n / ids.length);
  return Array.from({ length: reps }, () => ids)
    .flat()
    .slice(0, n);
}

/** Fills initTokenIds for TEXT init from the tokenizer (tokenizer_name_or_path, else the model directory). */
export async function resolvePromptTuningInit(
  config: PromptTuningConfig,
  modelDir: string,
): Promise<PromptTuningConfig> {
  if (config.promptTuningInit !== 'TEXT' || config.initTokenIds !== undefined) return config;
  const tok = await loadTokenizer(config.tokenizerNameOrPath ?? modelDir);
  return { ...config, initTokenIds: tok.encode(config.promptTuningInitText ?? '') };
}

function initialPrompt(model: BaseModel, c: PromptTuningConfig, seed: number): TensorData {
  const n = c.numVirtualTokens;
  const random = seededRandom(seed);
  switch (c.promptTuningInit) {
    case 'RANDOM':
      return normal([n, model.config.hiddenSize], random);
    case 'SAMPLE_VOCAB': {
      const V = wordEmbeddings(model).dims[0] as number;
      return embeddingRows(
        model,
        Array.from({ length: n }, () => Math.min(V - 1, Math.floor(random() * V))),
      );
    }
    case 'TEXT':
      if (c.initTokenIds === undefined)
        throw new PeftError(
          'bad-config',
          'prompt_tuning_init TEXT: the init text is not tokenized yet (resolvePromptTuningInit(config, modelDir) does it)',
        );
      return embeddingRows(model, repeatToLength(c.initTokenIds, n));
  }
}

/** The virtual-token extension over one [n, hidden] tensor named `name` (trainable in training graphs). */
export function promptEmbeddingExtension(name: string, t: TensorData, trainable: boolean): ModelExtensions {
  const made = new WeakMap<GraphBuilder, Value>();
  return {
    virtual: {
      count: t.dims[0] as number,
      kind: 'embeddings',
      embeddings(b) {
        let v = made.get(b);
        if (v === undefined) {
          v = b.initializer(name, t, { trainable });
          made.set(b, v);
        }
        return v;
      },
    },
  };
}

export function applyPromptTuning(model: BaseModel, config: PromptTuningConfig, opts: ApplyOptions): AppliedMethod {
  checkPromptTuningConfig(config, 'prompt tuning config');
  checkVirtualTokens(model, config.numVirtualTokens, 'prompt tuning');
  const dims = [config.numVirtualTokens, model.config.hiddenSize];
  const params = takeInit(
    new Map([[PROMPT_EMBEDDINGS, { dims, make: () => initialPrompt(model, config, opts.seed) }]]),
    opts.init,
    'prompt tuning',
  );
  const ext = promptEmbeddingExtension(PROMPT_EMBEDDINGS, params.get(PROMPT_EMBEDDINGS) as TensorData, true);
  return makeApplied({
    method: 'prompt-tuning',
    config,
    model,
    params,
    extensions: ext,
    noDecay: new Set(),
    extraTotal: config.numVirtualTokens * model.config.hiddenSize,
    save: (dir, trained) =>
      savePromptLearning(dir, {
        peftType: 'PROMPT_TUNING',
        common: config,
        dims: modelDims(model.config),
        fields: promptTuningFields(config, model.dir),
        promptEmbeddings: trained.get(PROMPT_EMBEDDINGS) as TensorData,
        encoder: new Map(),
        baseDir: model.dir,
      }),
  });
}
