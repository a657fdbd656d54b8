// Prompt tuning's settings under PEFT's PromptTuningConfig field names: num_virtual_tokens, prompt_tuning_init
// (RANDOM, TEXT, SAMPLE_VOCAB), prompt_tuning_init_text, tokenizer_name_or_path.

import { Fields } from '../../io/json-fields.js';
import { PeftError } from '../errors.js';
import type { PromptLearningCommon } from '../virtual-tokens.js';

export const PROMPT_TUNING_INITS = ['RANDOM', 'TEXT', 'SAMPLE_VOCAB'] as const;
export type PromptTuningInit = (typeof PROMPT_TUNING_INITS)[number];

export interface PromptTuningConfig extends PromptLearningCommon {
  readonly promptTuningInit: PromptTuningInit;
  readonly promptTuningInitText: string | null;
  readonly tokenizerNameOrPath: string | null;
  /**
   * TEXT: the token ids of prompt_tuning_init_text as the tokenizer gives them (special tokens included, as
   * PEFT's tokenizer(text) call does). Filled by resolvePromptTuningInit; not a PEFT field.
   */
  readonly initTokenIds?: readonly number[];
}

export function defaultPromptTuningConfig(): PromptTuningConfig {
  return {
    numVirtualTokens: 20,
    baseModelNameOrPath: null,
    taskType: 'CAUSAL_LM',
    promptTuningInit: 'RANDOM',
    promptTuningInitText: null,
    tokenizerNameOrPath: null,
  };
}

const fail = (code: string, message: string) => new PeftError('bad-config', `${message} (${code})`);

export function checkPromptTuningConfig(c: PromptTuningConfig, where: string): void {
  if (!(Number.isInteger(c.numVirtualTokens) && c.numVirtualTokens >= 1))
    throw new PeftError(
      'bad-config',
      `${where}: num_virtual_tokens must be an integer >= 1, got ${c.numVirtualTokens}`,
    );
  if (!PROMPT_TUNING_INITS.includes(c.promptTuningInit))
    throw new PeftError(
      'bad-config',
      `${where}: prompt_tuning_init must be one of ${PROMPT_TUNING_INITS.join(', ')}, got ${JSON.stringify(c.promptTuningInit)}`,
    );
  if (c.promptTuningInit === 'TEXT' && (c.promptTuningInitText === null || c.promptTuningInitText === ''))
    throw new PeftError('bad-config', `${where}: prompt_tuning_init TEXT needs prompt_tuning_init_text`);
}

/** Reads PEFT's field names; `where` names the source in errors. */
export function parsePromptTuningConfig(json: unknown, where: string): PromptTuningConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftError('bad-config', `${where}: prompt tuning config must be a JSON object`);
  const f = new Fields(json as Record<string, unknown>, where, fail);
  if (f.has('peft_type') && f.string('peft_type') !== 'PROMPT_TUNING')
    throw new PeftError(
      'adapter-mismatch',
      `${where}: peft_type is ${JSON.stringify(f.obj.peft_type)}, not PROMPT_TUNING; load it with its own method`,
    );
  const d = defaultPromptTuningConfig();
  const c: PromptTuningConfig = {
    numVirtualTokens: f.posInt('num_virtual_tokens', d.numVirtualTokens),
    baseModelNameOrPath: f.optString('base_model_name_or_path'),
    taskType: f.optString('task_type') ?? 'CAUSAL_LM',
    promptTuningInit: f.string('prompt_tuning_init', 'RANDOM') as PromptTuningInit,
    promptTuningInitText: f.optString('prompt_tuning_init_text'),
    tokenizerNameOrPath: f.optString('tokenizer_name_or_path'),
  };
  checkPromptTuningConfig(c, where);
  return c;
}

/**
 * The PEFT fields of a saved adapter. PEFT's PromptTuningConfig refuses TEXT without tokenizer_name_or_path when
 * the file is read, so TEXT adapters name the tokenizer used (the model directory when none was given).
 */
export function promptTuningFields(c: PromptTuningConfig, modelDir?: string): Record<string, unknown> {
  const tokenizer = c.tokenizerNameOrPath ?? (c.promptTuningInit === 'TEXT' ? (modelDir ?? null) : null);
  return {
    prompt_tuning_init: c.promptTuningInit,
    prompt_tuning_init_text: c.promptTuningInitText,
    tokenizer_name_or_path: tokenizer,
    tokenizer_kwargs: null,
  };
}

/** What the CLI and the trainer service set. */
export interface PromptTuningSettings {
  readonly numVirtualTokens?: number;
  readonly init?: PromptTuningInit;
  readonly initText?: string;
}

export function makePromptTuningConfig(s: PromptTuningSettings = {}): PromptTuningConfig {
  const c: PromptTuningConfig = {
    ...defaultPromptTuningConfig(),
    ...(s.numVirtualTokens !== undefined && { numVirtualTokens: s.numVirtualTokens }),
    ...(s.init !== undefined && { promptTuningInit: s.init }),
    ...(s.initText !== undefined && { promptTuningInitText: s.initText }),
  };
  checkPromptTuningConfig(c, 'prompt tuning settings');
  return c;
}
