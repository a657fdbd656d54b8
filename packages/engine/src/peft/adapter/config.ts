// Bottleneck adapters (Houlsby et al., 2019; Pfeiffer et al., 2020) have no PEFT peft_type, so their config
// is ours, saved in PEFT's two-file layout (adapter_config.json + adapter_model.safetensors) with a peft_type
// PEFT does not know — PEFT refuses the directory instead of misreading it — and AdapterHub's BnConfig field
// names for the settings: mh_adapter (after attention), output_adapter (after the feed-forward block),
// reduction_factor, non_linearity, scaling, leave_out, init_weights.

import { PeftError } from '../errors.js';

export const BOTTLENECK_PEFT_TYPE = 'TUNEMESH_BOTTLENECK_ADAPTER';

/** AdapterHub's names (transformers' get_activation): gelu is exact (erf), gelu_new the tanh approximation. */
export const NON_LINEARITIES = ['relu', 'swish', 'silu', 'gelu', 'gelu_new', 'tanh'] as const;
export type NonLinearity = (typeof NON_LINEARITIES)[number];
/** AdapterHub's "bert" (every adapter weight N(0, 0.02²)) and "mam_adapter" (down Kaiming-uniform, up 0). */
export const INIT_WEIGHTS = ['bert', 'mam_adapter'] as const;
export type InitWeights = (typeof INIT_WEIGHTS)[number];
/** AdapterHub's preset names: Houlsby (DoubleSeqBnConfig) and Pfeiffer (SeqBnConfig). */
export const PLACEMENTS = ['houlsby', 'pfeiffer'] as const;
export type Placement = (typeof PLACEMENTS)[number];

export interface BottleneckConfig {
  readonly peftType: typeof BOTTLENECK_PEFT_TYPE;
  readonly baseModelNameOrPath: string | null;
  readonly taskType: string | null;
  /** An adapter on the attention block's output (Houlsby). */
  readonly mhAdapter: boolean;
  /** An adapter on the feed-forward block's output (Houlsby and Pfeiffer). */
  readonly outputAdapter: boolean;
  /** hidden size / bottleneck size. */
  readonly reductionFactor: number;
  readonly nonLinearity: NonLinearity;
  /** Multiplier on the adapter's output before the residual. */
  readonly scaling: number;
  /** Layers without adapters. */
  readonly leaveOut: readonly number[];
  readonly initWeights: InitWeights;
  /**
   * A bottleneck size instead of reduction_factor (the trainer service's setting): apply() turns it into
   * reduction_factor = hidden / bottleneck_size, which must divide exactly. Not saved.
   */
  readonly bottleneckSize?: number;
}

/** AdapterHub's presets (reduction_factor 16; Houlsby swish on both sub-layers, Pfeiffer relu after the MLP). */
export function presetConfig(p: Placement): BottleneckConfig {
  const base = {
    peftType: BOTTLENECK_PEFT_TYPE,
    baseModelNameOrPath: null,
    taskType: 'CAUSAL_LM',
    reductionFactor: 16,
    scaling: 1,
    leaveOut: [],
    initWeights: 'bert',
  } as const;
  return p === 'houlsby'
    ? { ...base, mhAdapter: true, outputAdapter: true, nonLinearity: 'swish' }
    : { ...base, mhAdapter: false, outputAdapter: true, nonLinearity: 'relu' };
}

export const defaultBottleneckConfig = (): BottleneckConfig => presetConfig('pfeiffer');

/** What the CLI and the trainer service set, in engine spelling. */
export interface BottleneckSettings {
  readonly placement?: string;
  readonly reductionFactor?: number;
  readonly nonLinearity?: string;
  readonly scaling?: number;
  readonly leaveOut?: readonly number[];
  readonly bottleneckSize?: number;
}

const bad = (where: string, msg: string) => new PeftError('bad-config', `${where}: ${msg}`);

export function makeBottleneckConfig(s: BottleneckSettings = {}, where = 'adapter settings'): BottleneckConfig {
  const placement = s.placement ?? 'pfeiffer';
  if (!(PLACEMENTS as readonly string[]).includes(placement))
    throw bad(where, `placement '${placement}' is not one of ${PLACEMENTS.join(', ')}`);
  const c: BottleneckConfig = {
    ...presetConfig(placement as Placement),
    ...(s.reductionFactor === undefined ? {} : { reductionFactor: s.reductionFactor }),
    ...(s.nonLinearity === undefined ? {} : { nonLinearity: s.nonLinearity as NonLinearity }),
    ...(s.scaling === undefined ? {} : { scaling: s.scaling }),
    ...(s.leaveOut === undefined ? {} : { leaveOut: [...s.leaveOut] }),
    ...(s.bottleneckSize === undefined ? {} : { bottleneckSize: s.bottleneckSize }),
  };
  checkBottleneckConfig(c, where);
  return c;
}

export function checkBottleneckConfig(c: BottleneckConfig, where: string): void {
  if (!(c.reductionFactor > 0 && Number.isFinite(c.reductionFactor)))
    throw bad(where, `reduction_factor must be a positive number, got ${c.reductionFactor}`);
  if (!(NON_LINEARITIES as readonly string[]).includes(c.nonLinearity))
    throw bad(where, `non_linearity '${c.nonLinearity}' is not one of ${NON_LINEARITIES.join(', ')}`);
  if (!(INIT_WEIGHTS as readonly string[]).includes(c.initWeights))
    throw bad(where, `init_weights '${c.initWeights}' is not one of ${INIT_WEIGHTS.join(', ')}`);
  if (c.bottleneckSize !== undefined && !(Number.isSafeInteger(c.bottleneckSize) && c.bottleneckSize > 0))
    throw bad(where, `bottleneck_size must be a positive integer, got ${c.bottleneckSize}`);
  if (!Number.isFinite(c.scaling)) throw bad(where, `scaling must be a finite number, got ${c.scaling}`);
  if (!c.mhAdapter && !c.outputAdapter)
    throw bad(where, 'mh_adapter and output_adapter are both false: the adapter would sit nowhere');
  if (!c.leaveOut.every((l) => Number.isSafeInteger(l) && l >= 0))
    throw bad(where, `leave_out must list layer indices (integers ≥ 0), got [${c.leaveOut.join(', ')}]`);
}

/** adapter_config.json → BottleneckConfig; a config of another method is refused with its peft_type named. */
export function parseBottleneckConfig(json: unknown, where: string): BottleneckConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(where, 'must be a JSON object');
  const o = json as Record<string, unknown>;
  if (o.peft_type !== BOTTLENECK_PEFT_TYPE)
    throw bad(
      where,
      `peft_type is ${JSON.stringify(o.peft_type)}; the adapter method reads "${BOTTLENECK_PEFT_TYPE}" configs${typeof o.peft_type === 'string' ? ` (load a ${o.peft_type} adapter with its own method)` : ''}`,
    );
  const known = [
    'peft_type',
    'base_model_name_or_path',
    'task_type',
    'architecture',
    'mh_adapter',
    'output_adapter',
    'reduction_factor',
    'non_linearity',
    'scaling',
    'leave_out',
    'init_weights',
    'residual_before_ln',
  ];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw bad(where, `unknown field '${k}'`);
  const str = (k: string, fallback: string | null): string | null => {
    const v = o[k] ?? fallback;
    if (v !== null && typeof v !== 'string') throw bad(where, `field "${k}" must be a string`);
    return v as string | null;
  };
  const bool = (k: string, fallback: boolean): boolean => {
    const v = o[k] ?? fallback;
    if (typeof v !== 'boolean') throw bad(where, `field "${k}" must be true or false`);
    return v;
  };
  const num = (k: string, fallback: number): number => {
    const v = o[k] ?? fallback;
    if (typeof v !== 'number') throw bad(where, `field "${k}" must be a number`);
    return v;
  };
  const leaveOut = o.leave_out ?? [];
  if (!Array.isArray(leaveOut)) throw bad(where, 'field "leave_out" must be a list of layer indices');
  if (o.residual_before_ln !== undefined && o.residual_before_ln !== true)
    throw bad(where, 'residual_before_ln false is not supported (the residual is the sub-layer output)');
  const c: BottleneckConfig = {
    peftType: BOTTLENECK_PEFT_TYPE,
    baseModelNameOrPath: str('base_model_name_or_path', null),
    taskType: str('task_type', 'CAUSAL_LM'),
    mhAdapter: bool('mh_adapter', false),
    outputAdapter: bool('output_adapter', true),
    reductionFactor: num('reduction_factor', 16),
    nonLinearity: str('non_linearity', 'relu') as NonLinearity,
    scaling: num('scaling', 1),
    leaveOut: leaveOut as number[],
    initWeights: str('init_weights', 'bert') as InitWeights,
  };
  checkBottleneckConfig(c, where);
  return c;
}

export function bottleneckConfigToJson(c: BottleneckConfig): Record<string, unknown> {
  return {
    architecture: 'bottleneck',
    base_model_name_or_path: c.baseModelNameOrPath,
    init_weights: c.initWeights,
    leave_out: [...c.leaveOut],
    mh_adapter: c.mhAdapter,
    non_linearity: c.nonLinearity,
    output_adapter: c.outputAdapter,
    peft_type: BOTTLENECK_PEFT_TYPE,
    reduction_factor: c.reductionFactor,
    residual_before_ln: true,
    scaling: c.scaling,
    task_type: c.taskType,
  };
}
