// Option parsers and the method flags shared by `train` and `bench`. Parsers throw InvalidArgumentError, which
// commander reports as one usage line (exit 2).

import {
  getMethod,
  makeBottleneckConfig,
  makeIa3Config,
  makeLoraConfig,
  makePrefixTuningConfig,
  makePromptTuningConfig,
  makePTuningConfig,
} from '@tunemesh/engine';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { finiteNumber, positiveInt } from '../parse.js';

export function positiveNumber(value: string): number {
  const n = finiteNumber(value);
  if (n <= 0) throw new InvalidArgumentError('Expected a number > 0.');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = finiteNumber(value);
  if (n < 0) throw new InvalidArgumentError('Expected a number >= 0.');
  return n;
}

/** A fraction strictly between 0 and 1 (validation split). */
export function openFraction(value: string): number {
  const n = finiteNumber(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('Expected a number in (0, 1).');
  return n;
}

/** A fraction in [0, 1) (dropout, warmup ratio). */
export function fraction(value: string): number {
  const n = finiteNumber(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('Expected a number in [0, 1).');
  return n;
}

export function choice<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(values as readonly string[]).includes(value))
      throw new InvalidArgumentError(`Expected one of ${values.join(', ')}.`);
    return value as T;
  };
}

/** "q_proj,v_proj" → ['q_proj', 'v_proj']; "all-linear" stays a string, as PEFT's target_modules does. */
export function targetModules(value: string): string[] | 'all-linear' {
  if (value.trim() === 'all-linear') return 'all-linear';
  const names = value.split(',').map((s) => s.trim());
  if (names.some((n) => !/^[\w.]+$/.test(n)))
    throw new InvalidArgumentError('Expected comma-separated module names (e.g. q_proj,v_proj) or all-linear.');
  return names;
}

export const METHODS = [
  'lora',
  'full',
  'bitfit',
  'ia3',
  'adapter',
  'prompt-tuning',
  'p-tuning',
  'prefix-tuning',
] as const;
export const LORA_BIAS = ['none', 'all', 'lora_only'] as const;

/** The LoRA flags as given on the command line (absent: the method's defaults). */
export interface MethodFlags {
  method?: string;
  r?: number;
  alpha?: number;
  dropout?: number;
  targetModules?: string[] | 'all-linear';
  bias?: (typeof LORA_BIAS)[number];
  rslora?: boolean;
  /** DoRA (LoRA with use_dora). */
  useDora?: boolean;
  /** IA3's feedforward_modules. */
  feedforwardModules?: string[] | 'all-linear';
  /** Bottleneck adapters: AdapterHub preset, reduction_factor, non_linearity. */
  adapterPlacement?: string;
  reductionFactor?: number;
  nonLinearity?: string;
  /** Prompt learning: num_virtual_tokens; prompt tuning's init; P-tuning's encoder; prefix tuning's projection. */
  numVirtualTokens?: number;
  promptInit?: (typeof PROMPT_INITS)[number];
  promptInitText?: string;
  encoder?: (typeof P_TUNING_ENCODERS)[number];
  encoderHiddenSize?: number;
  encoderNumLayers?: number;
  encoderDropout?: number;
  prefixProjection?: boolean;
}

export const PROMPT_INITS = ['RANDOM', 'TEXT', 'SAMPLE_VOCAB'] as const;
export const P_TUNING_ENCODERS = ['MLP', 'LSTM'] as const;

export const ADAPTER_PLACEMENTS = ['houlsby', 'pfeiffer'] as const;
export const NON_LINEARITIES = ['relu', 'swish', 'silu', 'gelu', 'gelu_new', 'tanh'] as const;

export function addMethodOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--method <method>', `what trains: ${METHODS.join(', ')} (default lora)`).argParser(choice(METHODS)),
    )
    .option('--r <r>', 'LoRA rank (default 8)', positiveInt)
    .option('--alpha <a>', 'LoRA alpha; scaling alpha/r (default 8)', positiveNumber)
    .option('--dropout <p>', 'LoRA dropout on the adapter input (default 0)', fraction)
    .option(
      '--target-modules <names>',
      'LoRA target modules, comma-separated, or all-linear (default: PEFT’s for the architecture, e.g. q_proj,v_proj; GPT-2 c_attn)',
      targetModules,
    )
    .addOption(
      new Option('--bias <bias>', 'LoRA bias training: none, all, lora_only (default none)').argParser(
        choice(LORA_BIAS),
      ),
    )
    .option('--rslora', 'rank-stabilised LoRA: scaling alpha/sqrt(r)')
    .option('--use-dora', 'DoRA: LoRA with a trained magnitude per output feature (PEFT use_dora)')
    .option(
      '--feedforward-modules <names>',
      'IA3: targets whose input is scaled, comma-separated (default: PEFT’s, e.g. down_proj; GPT-2 mlp.c_proj)',
      targetModules,
    )
    .addOption(
      new Option(
        '--adapter-placement <p>',
        'bottleneck adapters: houlsby (after attention and MLP) or pfeiffer (after MLP) (default pfeiffer)',
      ).argParser(choice(ADAPTER_PLACEMENTS)),
    )
    .option('--reduction-factor <n>', 'bottleneck adapters: hidden size / bottleneck size (default 16)', positiveNumber)
    .addOption(
      new Option(
        '--non-linearity <f>',
        'bottleneck adapters: relu, swish, silu, gelu, gelu_new, tanh (default: the placement’s, relu / swish)',
      ).argParser(choice(NON_LINEARITIES)),
    )
    .option(
      '--num-virtual-tokens <n>',
      'prompt tuning, P-tuning, prefix tuning: virtual tokens / prefix length (default 20)',
      positiveInt,
    )
    .addOption(
      new Option(
        '--prompt-init <init>',
        'prompt tuning: RANDOM, TEXT (the embeddings of --prompt-init-text) or SAMPLE_VOCAB (default RANDOM)',
      ).argParser(choice(PROMPT_INITS)),
    )
    .option(
      '--prompt-init-text <text>',
      'prompt tuning with --prompt-init TEXT: the text whose tokens start the prompt',
    )
    .addOption(
      new Option('--encoder <kind>', 'P-tuning: prompt encoder MLP or LSTM (bidirectional) (default MLP)').argParser(
        choice(P_TUNING_ENCODERS),
      ),
    )
    .option(
      '--encoder-hidden-size <n>',
      'P-tuning encoder / prefix projection hidden size (default: the model’s hidden size)',
      positiveInt,
    )
    .option('--encoder-num-layers <n>', 'P-tuning LSTM layers (default 2)', positiveInt)
    .option('--encoder-dropout <p>', 'P-tuning dropout between LSTM layers (default 0)', fraction)
    .option('--prefix-projection', 'prefix tuning: reparameterise the prefixes through Linear → Tanh → Linear');
}

/** Which flags belong to which method (a flag given with another method is a usage error). */
const FLAG_METHODS: Readonly<Record<string, { flag: string; methods: readonly string[] }>> = {
  r: { flag: '--r', methods: ['lora'] },
  alpha: { flag: '--alpha', methods: ['lora'] },
  dropout: { flag: '--dropout', methods: ['lora'] },
  targetModules: { flag: '--target-modules', methods: ['lora', 'ia3'] },
  bias: { flag: '--bias', methods: ['lora'] },
  rslora: { flag: '--rslora', methods: ['lora'] },
  useDora: { flag: '--use-dora', methods: ['lora'] },
  feedforwardModules: { flag: '--feedforward-modules', methods: ['ia3'] },
  adapterPlacement: { flag: '--adapter-placement', methods: ['adapter'] },
  reductionFactor: { flag: '--reduction-factor', methods: ['adapter'] },
  nonLinearity: { flag: '--non-linearity', methods: ['adapter'] },
  numVirtualTokens: { flag: '--num-virtual-tokens', methods: ['prompt-tuning', 'p-tuning', 'prefix-tuning'] },
  promptInit: { flag: '--prompt-init', methods: ['prompt-tuning'] },
  promptInitText: { flag: '--prompt-init-text', methods: ['prompt-tuning'] },
  encoder: { flag: '--encoder', methods: ['p-tuning'] },
  encoderHiddenSize: { flag: '--encoder-hidden-size', methods: ['p-tuning', 'prefix-tuning'] },
  encoderNumLayers: { flag: '--encoder-num-layers', methods: ['p-tuning'] },
  encoderDropout: { flag: '--encoder-dropout', methods: ['p-tuning'] },
  prefixProjection: { flag: '--prefix-projection', methods: ['prefix-tuning'] },
};

/** The method flags given on the command line (for --init-adapter, which takes its settings from the file). */
export function methodFlagsGiven(flags: MethodFlags): string[] {
  return Object.entries(FLAG_METHODS)
    .filter(([k]) => flags[k as keyof MethodFlags] !== undefined)
    .map(([, v]) => v.flag);
}

/**
 * The method's config from the flags: LoRA's through makeLoraConfig (PEFT's defaults for what is not given,
 * PEFT's range checks), other methods' defaults. LoRA flags with another method are a usage error.
 */
export function methodConfigFromFlags(flags: MethodFlags, method: string): unknown {
  const misplaced = Object.entries(FLAG_METHODS).filter(
    ([k, v]) => flags[k as keyof MethodFlags] !== undefined && !v.methods.includes(method),
  );
  if (misplaced.length > 0)
    throw new UsageError(
      misplaced.map(([, v]) => `${v.flag} applies to --method ${v.methods.join(' or ')}`).join('; ') +
        `, not ${method}`,
    );
  if (method === 'ia3')
    return makeIa3Config({
      ...(flags.targetModules !== undefined && { targetModules: flags.targetModules }),
      ...(flags.feedforwardModules !== undefined && { feedforwardModules: flags.feedforwardModules }),
    });
  if (method === 'adapter')
    return makeBottleneckConfig({
      ...(flags.adapterPlacement !== undefined && { placement: flags.adapterPlacement }),
      ...(flags.reductionFactor !== undefined && { reductionFactor: flags.reductionFactor }),
      ...(flags.nonLinearity !== undefined && { nonLinearity: flags.nonLinearity }),
    });
  if (method === 'prompt-tuning')
    return makePromptTuningConfig({
      ...(flags.numVirtualTokens !== undefined && { numVirtualTokens: flags.numVirtualTokens }),
      ...(flags.promptInit !== undefined && { init: flags.promptInit }),
      ...(flags.promptInitText !== undefined && { initText: flags.promptInitText }),
    });
  if (method === 'p-tuning')
    return makePTuningConfig({
      ...(flags.numVirtualTokens !== undefined && { numVirtualTokens: flags.numVirtualTokens }),
      ...(flags.encoder !== undefined && { encoder: flags.encoder }),
      ...(flags.encoderHiddenSize !== undefined && { encoderHiddenSize: flags.encoderHiddenSize }),
      ...(flags.encoderNumLayers !== undefined && { encoderNumLayers: flags.encoderNumLayers }),
      ...(flags.encoderDropout !== undefined && { encoderDropout: flags.encoderDropout }),
    });
  if (method === 'prefix-tuning')
    return makePrefixTuningConfig({
      ...(flags.numVirtualTokens !== undefined && { numVirtualTokens: flags.numVirtualTokens }),
      ...(flags.encoderHiddenSize !== undefined && { encoderHiddenSize: flags.encoderHiddenSize }),
      ...(flags.prefixProjection === true && { prefixProjection: true }),
    });
  if (method !== 'lora') return getMethod(method).defaults();
  return makeLoraConfig({
    ...(flags.r !== undefined && { r: flags.r }),
    ...(flags.alpha !== undefined && { loraAlpha: flags.alpha }),
    ...(flags.dropout !== undefined && { loraDropout: flags.dropout }),
    ...(flags.targetModules !== undefined && { targetModules: flags.targetModules }),
    ...(flags.bias !== undefined && { bias: flags.bias }),
    ...(flags.rslora === true && { useRslora: true }),
    ...(flags.useDora === true && { useDora: true }),
  });
}

export const QUANTIZE_MODES = ['int8', 'int4'] as const;
export const PRECISIONS = ['fp32', 'fp16', 'bf16'] as const;

/** Memory and precision flags of `train`. */
export interface MemoryFlags {
  quantize?: (typeof QUANTIZE_MODES)[number];
  quantBlockSize?: number;
  gradientCheckpointing?: boolean;
  /** commander's --no-recompute-attention: false keeps the attention probabilities. */
  recomputeAttention?: boolean;
  precision?: (typeof PRECISIONS)[number];
}

export function addMemoryOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--quantize <mode>',
        'hold the frozen base linear weights as int8 (per output channel) or int4 (blocks) — QLoRA',
      ).argParser(choice(QUANTIZE_MODES)),
    )
    .option(
      '--quant-block-size <n>',
      'int4 block size: 32, 64 or 128, dividing every input dimension (default 64)',
      positiveInt,
    )
    .option('--gradient-checkpointing', 'recompute each block’s activations in the backward pass (less memory, slower)')
    .option(
      '--no-recompute-attention',
      'keep the attention probabilities for the backward pass instead of recomputing them (≈ 3% faster, B·heads·T² floats more per layer)',
    )
    .addOption(
      new Option('--precision <p>', 'compute precision: fp32 (fp16/bf16 are for the CUDA provider)').argParser(
        choice(PRECISIONS),
      ),
    );
}

/** Combinations of the memory flags commander cannot express; each a usage error naming the flag. */
export function checkMemoryFlags(o: MemoryFlags): void {
  if (o.quantBlockSize !== undefined && o.quantize !== 'int4')
    throw new UsageError('--quant-block-size applies to --quantize int4 (int8 has one scale per output channel)');
  if (o.precision !== undefined && o.precision !== 'fp32')
    throw new UsageError(
      `--precision ${o.precision}: tunemesh train runs on onnxruntime's CPU provider, which trains in fp32; give --precision fp32 or leave it out`,
    );
}
