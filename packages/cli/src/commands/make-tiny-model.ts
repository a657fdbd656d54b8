import { readFile } from 'node:fs/promises';
import { makeTinyModel, TINY_ARCHS, type TinyArch, type TinySizes } from '@tunemesh/engine';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { integer, positiveInt } from '../parse.js';

interface Opts {
  arch: TinyArch;
  out: string;
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  vocab?: number;
  maxPositions?: number;
  seed: number;
  tokenizerCorpus?: string;
  json?: boolean;
}

/** Every string value of a JSON value, in order (a JSONL dataset's texts, labels' words and all). */
function strings(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
}

/** --tokenizer-corpus: plain text, or a JSONL dataset whose string fields are the text. */
async function readCorpus(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--tokenizer-corpus ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be read'}`);
  }
  if (!file.endsWith('.jsonl')) return text;
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      strings(JSON.parse(line), out);
    } catch {
      throw new UsageError(`--tokenizer-corpus ${file}:${i + 1}: not a JSON value`);
    }
  });
  return out.join('\n');
}

function arch(value: string): TinyArch {
  if (!(TINY_ARCHS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`Expected one of ${TINY_ARCHS.join(', ')}.`);
  return value as TinyArch;
}

export function registerMakeTinyModel(program: Command, print: (s: string) => void): void {
  program
    .command('make-tiny-model')
    .description('write a small random-initialised Hugging Face model directory (config, weights, tokenizer)')
    .addOption(
      new Option('--arch <arch>', `architecture: ${TINY_ARCHS.join(', ')}`).argParser(arch).makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', 'directory to write (created if missing)')
    .option('--hidden <n>', 'hidden size (default 64)', positiveInt)
    .option('--layers <n>', 'decoder layers (default 2)', positiveInt)
    .option('--heads <n>', 'attention heads (default 4)', positiveInt)
    .option('--kv-heads <n>', 'key/value heads (default 2; gpt2: = heads)', positiveInt)
    .option('--intermediate <n>', 'MLP size (default 128)', positiveInt)
    .option('--vocab <n>', 'vocabulary size, >= 320 (default 320)', positiveInt)
    .option('--max-positions <n>', 'positions (default 2048; gpt2 1024)', positiveInt)
    .option('--seed <s>', 'seed for the weights', integer, 0)
    .option(
      '--tokenizer-corpus <file>',
      "learn the tokenizer's merges from this text (or a JSONL dataset's string fields) instead of the built-in text",
    )
    .option('--json', 'print a JSON summary')
    .action(async (o: Opts) => {
      const sizes: Partial<TinySizes> = {
        ...(o.hidden !== undefined && { hidden: o.hidden }),
        ...(o.layers !== undefined && { layers: o.layers }),
        ...(o.heads !== undefined && { heads: o.heads }),
        ...(o.kvHeads !== undefined && { kvHeads: o.kvHeads }),
        ...(o.intermediate !== undefined && { intermediate: o.intermediate }),
        ...(o.vocab !== undefined && { vocab: o.vocab }),
        ...(o.maxPositions !== undefined && { maxPositions: o.maxPositions }),
      };
      const corpus = o.tokenizerCorpus === undefined ? undefined : await readCorpus(o.tokenizerCorpus);
      const info = await makeTinyModel({
        arch: o.arch,
        out: o.out,
        sizes,
        seed: o.seed,
        ...(corpus !== undefined && { tokenizerCorpus: corpus }),
      });
      if (o.json)
        print(`${JSON.stringify({ dir: info.dir, arch: info.arch, parameters: info.parameters, ...info.sizes })}\n`);
      else print(`wrote ${info.arch} model (${info.parameters.toLocaleString('en-US')} parameters) to ${info.dir}\n`);
    });
}
