// MethodSpec (proto, PEFT's names) → the engine's method name and config. What the engine cannot do is refused
// here with the field named, so create time and the trainer node read a method the same way.

import {
  type BottleneckConfig,
  checkLoraConfig,
  defaultLoraConfig,
  type Ia3Config,
  type LoraConfig,
  makeBottleneckConfig,
  makeIa3Config,
  makePrefixTuningConfig,
  makePromptTuningConfig,
  makePTuningConfig,
} from '@tunemesh/engine';
import { InvalidArgumentError } from '@tunemesh/kit';
import {
  AdapterNonLinearity,
  AdapterPlacement,
  LoraBias,
  MethodKind,
  type MethodSpec,
  PromptEncoderType,
  PromptTuningInit,
} from '@tunemesh/proto';
import { isCodedError } from '../engine-errors.js';

export interface EngineMethod {
  readonly kind: MethodKind;
  /** Name in the engine's method registry. */
  readonly name: 'lora' | 'full' | 'bitfit' | 'ia3' | 'adapter' | 'prompt-tuning' | 'p-tuning' | 'prefix-tuning';
  readonly config: unknown;
}

const bad = (field: string, message: string) => new InvalidArgumentError(`${field}: ${message}`, { field });

export const METHOD_KIND_OF: Readonly<Record<string, MethodKind>> = {
  full: MethodKind.FULL,
  lora: MethodKind.LORA,
  bitfit: MethodKind.BITFIT,
  promptTuning: MethodKind.PROMPT_TUNING,
  pTuning: MethodKind.P_TUNING,
  prefixTuning: MethodKind.PREFIX_TUNING,
  adapter: MethodKind.ADAPTER,
  ia3: MethodKind.IA3,
  // the engine's names of the prompt-learning methods (the others are spelled alike)
  'prompt-tuning': MethodKind.PROMPT_TUNING,
  'p-tuning': MethodKind.P_TUNING,
  'prefix-tuning': MethodKind.PREFIX_TUNING,
};

function loraConfig(l: NonNullable<Extract<MethodSpec['config'], { $case: 'lora' }>>['value']): LoraConfig {
  const f = (name: string) => `method.lora.${name}`;
  const bias = { [LoraBias.ALL]: 'all', [LoraBias.LORA_ONLY]: 'lora_only' }[l.bias as number] ?? 'none';
  if (l.loraDropout < 0 || l.loraDropout >= 1 || !Number.isFinite(l.loraDropout))
    throw bad(f('lora_dropout'), `must be in [0, 1), got ${l.loraDropout}`);
  if (l.loraAlpha !== undefined && !(l.loraAlpha > 0 && Number.isFinite(l.loraAlpha)))
    throw bad(f('lora_alpha'), `must be a positive number, got ${l.loraAlpha}`);
  if (l.r > 4096) throw bad(f('r'), `must be at most 4096, got ${l.r}`);
  let targetModules: LoraConfig['targetModules'] = null;
  if (l.targetModules.length === 1 && l.targetModules[0] === 'all-linear') targetModules = { kind: 'all-linear' };
  else if (l.targetModules.length > 0) {
    if (l.targetModules.some((n) => !/^[\w.]+$/.test(n)))
      throw bad(f('target_modules'), 'module names are letters, digits, "_" and "."');
    targetModules = { kind: 'list', names: [...l.targetModules].sort() };
  }
  const c: LoraConfig = {
    ...defaultLoraConfig(),
    r: l.r === 0 ? 8 : l.r,
    loraAlpha: l.loraAlpha ?? 8,
    loraDropout: l.loraDropout,
    targetModules,
    bias: bias as LoraConfig['bias'],
    useRslora: l.useRslora,
    useDora: l.useDora,
    modulesToSave: l.modulesToSave.length > 0 ? [...l.modulesToSave] : null,
    layersToTransform: l.layersToTransform.length > 0 ? [...l.layersToTransform] : null,
  };
  try {
    checkLoraConfig(c, 'method.lora');
  } catch (err) {
    if (isCodedError(err)) throw new InvalidArgumentError(err.message, { field: 'method.lora', cause: err });
    throw err;
  }
  return c;
}

/** Engine errors of a config builder as INVALID_ARGUMENT on the given field. */
function asField<T>(field: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (isCodedError(err)) throw new InvalidArgumentError(`${field}: ${err.message}`, { field, cause: err });
    throw err;
  }
}

const moduleNames = (field: string, names: readonly string[]): string[] | undefined => {
  if (names.length === 0) return undefined; // PEFT's per-architecture default
  if (names.some((n) => !/^[\w.]+$/.test(n))) throw bad(field, 'module names are letters, digits, "_" and "."');
  return [...names];
};

function ia3Config(v: NonNullable<Extract<MethodSpec['config'], { $case: 'ia3' }>>['value']): Ia3Config {
  if (v.modulesToSave.length > 0)
    throw bad('method.ia3.modules_to_save', 'not supported by this engine; leave it empty');
  const targetModules = moduleNames('method.ia3.target_modules', v.targetModules);
  const feedforwardModules = moduleNames('method.ia3.feedforward_modules', v.feedforwardModules);
  return asField('method.ia3.feedforward_modules', () =>
    makeIa3Config({
      ...(targetModules !== undefined && { targetModules }),
      ...(feedforwardModules !== undefined && { feedforwardModules }),
    }),
  );
}

// AdapterHub names for the proto's enums; GELU is the tanh approximation there (AdapterHub's gelu_new).
const NON_LINEARITY: Readonly<Record<number, string>> = {
  [AdapterNonLinearity.UNSPECIFIED]: 'relu',
  [AdapterNonLinearity.RELU]: 'relu',
  [AdapterNonLinearity.GELU]: 'gelu_new',
  [AdapterNonLinearity.SILU]: 'silu',
  [AdapterNonLinearity.TANH]: 'tanh',
};

function adapterConfig(v: NonNullable<Extract<MethodSpec['config'], { $case: 'adapter' }>>['value']): BottleneckConfig {
  const f = (name: string) => `method.adapter.${name}`;
  if (v.placement === AdapterPlacement.PARALLEL)
    throw bad(
      f('placement'),
      'parallel adapters are not supported by this engine; use SEQUENTIAL_FFN (Pfeiffer) or SEQUENTIAL_BOTH (Houlsby)',
    );
  const placement =
    v.placement === AdapterPlacement.SEQUENTIAL_BOTH
      ? 'houlsby'
      : v.placement === AdapterPlacement.UNSPECIFIED || v.placement === AdapterPlacement.SEQUENTIAL_FFN
        ? 'pfeiffer'
        : undefined;
  if (placement === undefined) throw bad(f('placement'), `unknown placement ${v.placement}`);
  const nonLinearity = NON_LINEARITY[v.nonLinearity];
  if (nonLinearity === undefined) throw bad(f('non_linearity'), `unknown non-linearity ${v.nonLinearity}`);
  if (v.dropout !== 0) throw bad(f('dropout'), 'adapter dropout is not supported by this engine; use 0');
  if (v.scaling !== undefined && !Number.isFinite(v.scaling)) throw bad(f('scaling'), 'must be a finite number');
  return asField(f('bottleneck_size'), () =>
    makeBottleneckConfig({
      placement,
      nonLinearity,
      bottleneckSize: v.bottleneckSize === 0 ? 64 : v.bottleneckSize,
      ...(v.scaling !== undefined && { scaling: v.scaling }),
    }),
  );
}

type Value<C extends string> = NonNullable<Extract<MethodSpec['config'], { $case: C }>>['value'];

/** Proto's "0 means the default" sizes; PEFT's default num_virtual_tokens here is 20 (the proto's). */
const orDefault = (v: number, d: number): number => (v === 0 ? d : v);

function promptTuningConfig(v: Value<'promptTuning'>): unknown {
  // unspecified with a text: the text initialises (what a client that sets only init_text means)
  const init = {
    [PromptTuningInit.UNSPECIFIED]: v.initText.trim() === '' ? 'RANDOM' : 'TEXT',
    [PromptTuningInit.RANDOM]: 'RANDOM',
    [PromptTuningInit.TEXT]: 'TEXT',
    [PromptTuningInit.SAMPLE_VOCAB]: 'SAMPLE_VOCAB',
  }[v.init as number] as 'RANDOM' | 'TEXT' | 'SAMPLE_VOCAB' | undefined;
  if (init === undefined) throw bad('method.prompt_tuning.init', `unknown init ${v.init}`);
  if (init === 'TEXT' && v.initText.trim() === '')
    throw bad('method.prompt_tuning.init_text', 'PROMPT_TUNING_INIT_TEXT needs the text whose tokens start the prompt');
  return asField('method.prompt_tuning', () =>
    makePromptTuningConfig({
      numVirtualTokens: orDefault(v.numVirtualTokens, 20),
      init,
      ...(init === 'TEXT' && { initText: v.initText }),
    }),
  );
}

function pTuningConfig(v: Value<'pTuning'>): unknown {
  const encoder = {
    [PromptEncoderType.UNSPECIFIED]: 'MLP',
    [PromptEncoderType.MLP]: 'MLP',
    [PromptEncoderType.LSTM]: 'LSTM',
  }[v.encoderType as number] as 'MLP' | 'LSTM' | undefined;
  if (encoder === undefined) throw bad('method.p_tuning.encoder_type', `unknown encoder type ${v.encoderType}`);
  if (!(v.encoderDropout >= 0 && v.encoderDropout < 1))
    throw bad('method.p_tuning.encoder_dropout', `must be in [0, 1), got ${v.encoderDropout}`);
  return asField('method.p_tuning', () =>
    makePTuningConfig({
      numVirtualTokens: orDefault(v.numVirtualTokens, 20),
      encoder,
      ...(v.encoderHiddenSize !== 0 && { encoderHiddenSize: v.encoderHiddenSize }),
      encoderNumLayers: orDefault(v.encoderNumLayers, 2),
      encoderDropout: v.encoderDropout,
    }),
  );
}

function prefixTuningConfig(v: Value<'prefixTuning'>): unknown {
  return asField('method.prefix_tuning', () =>
    makePrefixTuningConfig({
      numVirtualTokens: orDefault(v.numVirtualTokens, 20),
      prefixProjection: v.prefixProjection,
      ...(v.encoderHiddenSize !== 0 && { encoderHiddenSize: v.encoderHiddenSize }),
    }),
  );
}

/** The engine's form of a method spec; INVALID_ARGUMENT naming the field for what it cannot train. */
export function engineMethod(spec: MethodSpec | undefined): EngineMethod {
  const m = spec?.config;
  if (m === undefined) throw bad('method', 'exactly one method must be set');
  switch (m.$case) {
    case 'full':
      if (m.value.freezeEmbeddings) throw bad('method.full.freeze_embeddings', 'not supported by this engine');
      if (m.value.frozenModules.length > 0) throw bad('method.full.frozen_modules', 'not supported by this engine');
      return { kind: MethodKind.FULL, name: 'full', config: {} };
    case 'bitfit':
      if (m.value.targetModules.length > 0)
        throw bad('method.bitfit.target_modules', 'this engine trains every bias; leave it empty');
      if (m.value.modulesToSave.length > 0) throw bad('method.bitfit.modules_to_save', 'not supported by this engine');
      return { kind: MethodKind.BITFIT, name: 'bitfit', config: { baseModelNameOrPath: null } };
    case 'lora':
      return { kind: MethodKind.LORA, name: 'lora', config: loraConfig(m.value) };
    case 'ia3':
      return { kind: MethodKind.IA3, name: 'ia3', config: ia3Config(m.value) };
    case 'adapter':
      return { kind: MethodKind.ADAPTER, name: 'adapter', config: adapterConfig(m.value) };
    case 'promptTuning':
      return { kind: MethodKind.PROMPT_TUNING, name: 'prompt-tuning', config: promptTuningConfig(m.value) };
    case 'pTuning':
      return { kind: MethodKind.P_TUNING, name: 'p-tuning', config: pTuningConfig(m.value) };
    case 'prefixTuning':
      return { kind: MethodKind.PREFIX_TUNING, name: 'prefix-tuning', config: prefixTuningConfig(m.value) };
    default:
      throw bad('method', `unknown method ${(m as { $case: string }).$case}`);
  }
}

/** The spec with PEFT's defaults written in, as the job record shows it. */
export function filledMethodSpec(
  spec: MethodSpec,
  engine: EngineMethod,
  defaultTargets: readonly string[],
): MethodSpec {
  const m = spec.config;
  if (m?.$case !== 'lora') return spec;
  const c = engine.config as LoraConfig;
  return {
    config: {
      $case: 'lora',
      value: {
        ...m.value,
        r: c.r,
        loraAlpha: c.loraAlpha,
        bias: m.value.bias === LoraBias.UNSPECIFIED ? LoraBias.NONE : m.value.bias,
        targetModules: m.value.targetModules.length > 0 ? m.value.targetModules : [...defaultTargets],
      },
    },
  };
}
