// LoRA applied to a model for training: pick the target modules (PEFT's matching rules), create A and B
// (PEFT's initialisation, seeded) or take them from a saved adapter, and put them in the graph through the
// models folder's loraExtension — the same forward that evaluation uses. Dropout, when configured, is applied to
// the LoRA branch's input in the training graph only, as PEFT's lora_dropout does (see dropout.ts).

import { seededRandom } from '../../data/batches.js';
import { matchesTargetModules, patternValue } from '../../io/peft-config.js';
import { formatPeftKey } from '../../io/peft-keys.js';
import { embeddingName } from '../../io/weights.js';
import { loraExtension } from '../../models/lora.js';
import type { TensorData } from '../../onnx/ir.js';
import { cloneF32, makeApplied, sameDims } from '../applied.js';
import { sumNumel } from '../count.js';
import { PeftError } from '../errors.js';
import { biasNames, describeLinears, isNoDecay, type LinearInfo, linearModules } from '../modules.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import { checkLoraConfig, type LoraConfig, resolveLoraConfig } from './config.js';
import { doraExtension, doraFeeds, weightRowNorms } from './dora.js';
import { withLoraDropout } from './dropout.js';
import { kaimingUniformA, zerosB } from './init.js';
import { saveLoraAdapter } from './save.js';
import { paramNameOf } from './state.js';

const LAYER_INDEX = /\.(?:layers|h)\.(\d+)\./;

/** The linear modules a LoRA config wraps; a listed name or pattern that matches nothing is an error. */
export function loraTargets(model: BaseModel, config: LoraConfig): LinearInfo[] {
  const mods = linearModules(model);
  const t = config.targetModules;
  const listAll = () => `the model's linear modules: ${describeLinears(mods)}`;
  if (t?.kind === 'list') {
    const missing = t.names.filter((n) => !mods.some((m) => m.name === n || m.name.endsWith(`.${n}`)));
    if (missing.length > 0)
      throw new PeftError(
        'unknown-target',
        `target_modules ${missing.map((n) => `'${n}'`).join(', ')} not found in the model; ${listAll()}`,
      );
  }
  const targeted = mods.filter((m) => {
    if (!matchesTargetModules(t, m.name, { isLinear: true, isOutputLayer: m.isOutput })) return false;
    if (config.layersToTransform === null) return true;
    const layer = LAYER_INDEX.exec(m.name);
    return layer !== null && config.layersToTransform.includes(Number(layer[1]));
  });
  if (targeted.length === 0)
    throw new PeftError('unknown-target', `target_modules match no linear module of the model; ${listAll()}`);
  return targeted;
}

/** Checkpoint modules a modules_to_save entry selects (path equal to or ending in ".<entry>"), with their tensors. */
function modulesToSaveParams(model: BaseModel, config: LoraConfig, targeted: ReadonlySet<string>): string[] {
  const names: string[] = [];
  for (const entry of config.modulesToSave ?? []) {
    const hit = [...model.weights.keys()].filter((n) => {
      const module = n.slice(0, n.lastIndexOf('.'));
      return module === entry || module.endsWith(`.${entry}`);
    });
    if (hit.length === 0) {
      const tied = entry === 'lm_head' && model.config.tieWordEmbeddings;
      throw new PeftError(
        tied ? 'unsupported' : 'unknown-target',
        tied
          ? `modules_to_save 'lm_head': the model ties lm_head to model.embed_tokens; save 'embed_tokens' instead`
          : `modules_to_save '${entry}' is not a module of the model`,
      );
    }
    for (const n of hit) {
      const module = n.slice(0, n.lastIndexOf('.'));
      // PEFT's copy replaces only the embedding; the tied LM head keeps reading the original. One checkpoint
      // tensor serves both here, so training the copy would train the head too.
      if (model.config.tieWordEmbeddings && n === embeddingName(model.config))
        throw new PeftError(
          'unsupported',
          `modules_to_save '${entry}': the model ties its LM head to ${n}, so a trained copy cannot replace the embedding alone`,
        );
      if (targeted.has(module))
        throw new PeftError('bad-config', `module '${module}' is both a LoRA target and in modules_to_save`);
      names.push(n);
    }
  }
  return names;
}

export function applyLora(model: BaseModel, userConfig: LoraConfig, opts: ApplyOptions): AppliedMethod {
  checkLoraConfig(userConfig, 'LoRA config');
  const config = resolveLoraConfig(userConfig, model.config);
  const targets = loraTargets(model, config);
  const targeted = new Set(targets.map((m) => m.name));

  // Saved values to start from, by graph name; every one must find its place.
  const init = new Map<string, TensorData>();
  for (const [k, t] of opts.init ?? []) init.set(paramNameOf(k), t);
  const takeInit = (name: string, dims: readonly number[]): TensorData | undefined => {
    const t = init.get(name);
    if (t === undefined) return undefined;
    if (!sameDims(t.dims, dims))
      throw new PeftError(
        'adapter-mismatch',
        `initial adapter tensor '${name}' is [${t.dims.join(', ')}], this model and config need [${dims.join(', ')}]`,
      );
    init.delete(name);
    return cloneF32(t);
  };

  const random = seededRandom(opts.seed);
  const params = new Map<string, TensorData>();
  const lora = new Map<string, TensorData>();
  for (const m of targets) {
    const r = patternValue(config.rankPattern, m.name, config.r);
    const keyA = formatPeftKey(m.name, 'lora_A');
    const keyB = formatPeftKey(m.name, 'lora_B');
    // A is drawn even when an initial value replaces it, so the RNG stream does not depend on --init-adapter.
    const freshA = kaimingUniformA(r, m.inFeatures, random);
    const initA = takeInit(keyA, [r, m.inFeatures]);
    const initB = takeInit(keyB, [m.outFeatures, r]);
    if (opts.init !== undefined && (initA === undefined || initB === undefined))
      throw new PeftError('adapter-mismatch', `initial adapter has no lora_A/lora_B for target module '${m.name}'`);
    const A = initA ?? freshA;
    const B = initB ?? zerosB(m.outFeatures, r);
    lora.set(keyA, A);
    lora.set(keyB, B);
    params.set(keyA, A);
    params.set(keyB, B);
    if (config.useDora) {
      // DoRA's magnitude starts as ‖W‖ per output feature (PEFT: the norm of W + s·B·A with B = 0).
      const keyM = formatPeftKey(m.name, 'lora_magnitude_vector');
      const initM = takeInit(keyM, [m.outFeatures]);
      if (opts.init !== undefined && initM === undefined)
        throw new PeftError(
          'adapter-mismatch',
          `initial adapter has no lora_magnitude_vector for '${m.name}' (use_dora)`,
        );
      const M = initM ?? weightRowNorms(model.weights.get(`${m.name}.weight`) as TensorData, m.layout);
      lora.set(keyM, M);
      params.set(keyM, M);
    }
  }

  const biases =
    config.bias === 'all'
      ? biasNames(model)
      : config.bias === 'lora_only'
        ? targets.flatMap((m) => (m.bias === null ? [] : [m.bias]))
        : [];
  const saved = modulesToSaveParams(model, config, targeted);
  for (const n of [...biases, ...saved]) {
    const base = model.weights.get(n) as TensorData;
    params.set(n, takeInit(n, base.dims) ?? cloneF32(base));
  }
  if (init.size > 0)
    throw new PeftError(
      'adapter-mismatch',
      `initial adapter tensors have no place in this model and config: ${[...init.keys()].slice(0, 3).join(', ')}`,
    );

  // The forward is models/lora.ts's; biases and modules_to_save are checkpoint tensors the graph already reads.
  const adapterOnly = { ...config, bias: 'none', modulesToSave: null } as const;
  const forward = config.useDora
    ? doraExtension(adapterOnly, lora, { trainable: true })
    : loraExtension(adapterOnly, lora, { trainable: true });
  // DoRA's training graph reads A and B for the weight norm from fed copies, so the norm is a constant there.
  const trainForward = config.useDora
    ? doraExtension(adapterOnly, lora, { trainable: true, detachNorm: true, freshBase: config.loraDropout > 0 })
    : forward;
  const dropout =
    config.loraDropout > 0
      ? withLoraDropout(trainForward, targets, config.loraDropout, opts.seed, opts.dropoutMasks ?? 'fed')
      : undefined;
  const abKeys = config.useDora
    ? targets.flatMap((m) => [formatPeftKey(m.name, 'lora_A'), formatPeftKey(m.name, 'lora_B')])
    : [];
  const dropoutFeeds = dropout?.feeds;
  const stepFeeds =
    abKeys.length > 0
      ? (step: number, rows: number) => ({ ...dropoutFeeds?.(step, rows), ...doraFeeds(params, abKeys) })
      : dropoutFeeds;
  const modelDir = model.dir;
  return makeApplied({
    method: 'lora',
    config,
    model,
    params,
    extensions: dropout?.extensions ?? trainForward,
    evalExtensions: forward,
    noDecay: new Set([...params.keys()].filter((n) => !lora.has(n) && isNoDecay(n))),
    extraTotal: sumNumel(lora.values()) + sumNumel(saved.map((n) => model.weights.get(n) as TensorData)),
    save: (dir, trained) => saveLoraAdapter(dir, config, trained, targeted, modelDir),
    ...(stepFeeds === undefined ? {} : { stepFeeds }),
  });
}
