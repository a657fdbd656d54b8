// `tunemesh train`: flags → a validated training job → the engine's trainer, with progress on stderr (TTY),
// JSON lines on stdout (--json), and the loss chart in --out.

import { type Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { integer, nonNegativeInt, positiveInt } from '../parse.js';
import {
  addMemoryOptions,
  addMethodOptions,
  checkMemoryFlags,
  choice,
  fraction,
  type MemoryFlags,
  type MethodFlags,
  nonNegativeNumber,
  openFraction,
  positiveNumber,
} from './train-options.js';
import { runTrainCommand } from './train-run.js';

export const OPTIMIZERS = ['adamw', 'sgd'] as const;
export const SCHEDULERS = ['constant', 'linear', 'cosine'] as const;

export interface TrainFlags extends MethodFlags, MemoryFlags {
  model: string;
  data: string;
  valData?: string;
  valSplit?: number;
  epochs?: number;
  maxSteps?: number;
  lr: number;
  batchSize: number;
  gradAccum: number;
  optimizer: (typeof OPTIMIZERS)[number];
  scheduler: (typeof SCHEDULERS)[number];
  warmupSteps?: number;
  warmupRatio?: number;
  weightDecay: number;
  maxGradNorm: number;
  maxSeqLen: number;
  seed: number;
  evalEvery?: number;
  saveEvery?: number;
  logEvery: number;
  out: string;
  resume?: boolean;
  initAdapter?: string;
  shuffle: boolean;
  json?: boolean;
  promptTemplate?: string;
  labelWords?: string;
  threads?: number;
}

/** Combinations commander cannot express; each a usage error naming the flags. */
export function checkTrainFlags(o: TrainFlags): void {
  const both = (a: unknown, b: unknown, names: string) => {
    if (a !== undefined && b !== undefined) throw new UsageError(`give ${names}, not both`);
  };
  both(o.valData, o.valSplit, '--val-data or --val-split');
  both(o.epochs, o.maxSteps, '--epochs or --max-steps');
  both(o.warmupSteps, o.warmupRatio, '--warmup-steps or --warmup-ratio');
  if (o.resume === true && o.initAdapter !== undefined)
    throw new UsageError('--resume continues the run in --out; --init-adapter starts a new one: give one of them');
  if (o.evalEvery !== undefined && o.valData === undefined && o.valSplit === undefined)
    throw new UsageError('--eval-every needs validation data: --val-data FILE or --val-split FRACTION');
  checkMemoryFlags(o);
}

export function registerTrain(program: Command, print: (s: string) => void, printErr: (s: string) => void): void {
  const cmd = program
    .command('train')
    .description('fine-tune a model (LoRA, full or BitFit) on a JSONL dataset')
    .requiredOption('--model <dir>', 'Hugging Face model directory (config.json, model.safetensors, tokenizer.json)')
    .requiredOption(
      '--data <file>',
      'training JSONL: chat {messages}, alpaca {instruction,input,output}, classification {text,label}, text {text} or pre-tokenised {input_ids,labels}',
    )
    .option('--val-data <file>', 'validation JSONL (same formats)')
    .option(
      '--val-split <fraction>',
      'hold out this fraction of --data for validation (seeded by --seed)',
      openFraction,
    );
  addMemoryOptions(addMethodOptions(cmd))
    .option('--epochs <e>', 'passes over the data, fractions allowed (default 1)', positiveNumber)
    .option('--max-steps <n>', 'optimizer steps (instead of --epochs)', positiveInt)
    .option('--lr <lr>', 'peak learning rate', positiveNumber, 2e-4)
    .option('--batch-size <b>', 'rows per micro-batch', positiveInt, 8)
    .option('--grad-accum <g>', 'micro-batches per optimizer step', positiveInt, 1)
    .addOption(new Option('--optimizer <name>', 'adamw or sgd').argParser(choice(OPTIMIZERS)).default('adamw'))
    .addOption(
      new Option('--scheduler <name>', 'constant, linear or cosine (after warmup)')
        .argParser(choice(SCHEDULERS))
        .default('linear'),
    )
    .option('--warmup-steps <w>', 'linear warmup steps', nonNegativeInt)
    .option('--warmup-ratio <r>', 'warmup as a fraction of the total steps', fraction)
    .option('--weight-decay <wd>', 'decoupled weight decay (AdamW) / L2 (SGD)', nonNegativeNumber, 0)
    .option('--max-grad-norm <c>', 'clip the global gradient norm to this (0: no clipping)', nonNegativeNumber, 1)
    .option('--max-seq-len <l>', 'truncate rows to this many tokens', positiveInt, 1024)
    .option('--seed <s>', 'seed for initialisation, shuffling, dropout and --val-split', integer, 42)
    .option('--eval-every <n>', 'evaluate on the validation data every n steps (default: every epoch)', positiveInt)
    .option(
      '--save-every <n>',
      'write a checkpoint every n steps (default: every epoch); the newest 2 are kept',
      positiveInt,
    )
    .option('--log-every <n>', 'log (and print with --json) every n steps', positiveInt, 1)
    .requiredOption('--out <dir>', 'output directory: the adapter (or model), checkpoints and loss.svg')
    .option('--resume', 'continue from the latest checkpoint in --out')
    .option('--init-adapter <dir>', 'start from this PEFT adapter (its adapter_config.json sets the method)')
    .option('--no-shuffle', 'keep the data in file order')
    .option('--prompt-template <t>', 'classification rows: prompt around {text} (default "{text}\\nLabel:")')
    .option(
      '--label-words <json>',
      'classification rows: {"label": "word", ...} inline or a JSON file (default " <label>")',
    )
    .option('--threads <n>', 'onnxruntime intra-op threads', positiveInt)
    .option('--json', 'print one JSON line per logged step and a final {"done":true,...}')
    .action(async (o: TrainFlags) => {
      checkTrainFlags(o);
      await runTrainCommand(o, { print, printErr, tty: process.stderr.isTTY === true });
    });
}
