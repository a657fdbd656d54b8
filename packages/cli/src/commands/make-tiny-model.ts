import { makeTinyModel, TINY_ARCHS, type TinyArch, type TinySizes } from '@tunemesh/engine';
import { type Command, InvalidArgumentError, Option } from 'commander';
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
  json?: boolean;
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
      const info = await makeTinyModel({ arch: o.arch, out: o.out, sizes, seed: o.seed });
      if (o.json)
        print(`${JSON.stringify({ dir: info.dir, arch: info.arch, parameters: info.parameters, ...info.sizes })}\n`);
      else print(`wrote ${info.arch} model (${info.parameters.toLocaleString('en-US')} parameters) to ${info.dir}\n`);
    });
}
