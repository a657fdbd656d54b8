import { mergeAdapter } from '@tunemesh/engine';
import { type Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { positiveInt } from '../parse.js';
import { choice, QUANTIZE_MODES } from './train-options.js';

interface MergeOpts {
  model: string;
  adapter: string;
  out: string;
  json?: boolean;
  quantize?: (typeof QUANTIZE_MODES)[number];
  quantBlockSize?: number;
}

export function registerMerge(program: Command, print: (s: string) => void): void {
  program
    .command('merge')
    .description('merge a trained adapter (LoRA or BitFit) into its base model and write a plain model directory')
    .requiredOption('--model <dir>', 'base Hugging Face model directory')
    .requiredOption('--adapter <dir>', 'adapter directory (PEFT LoRA, DoRA or IA3, or a tunemesh BitFit result)')
    .requiredOption('--out <dir>', 'directory for the merged model (config and tokenizer copied from --model)')
    .addOption(
      new Option('--quantize <mode>', 'the adapter was trained on an int8 or int4 base (train --quantize)').argParser(
        choice(QUANTIZE_MODES),
      ),
    )
    .option('--quant-block-size <n>', 'int4 block size the adapter was trained with (default 64)', positiveInt)
    .option('--json', 'print {"out","method","changed"}')
    .action(async (o: MergeOpts) => {
      if (o.quantBlockSize !== undefined && o.quantize !== 'int4')
        throw new UsageError('--quant-block-size applies to --quantize int4');
      const quantize =
        o.quantize === undefined
          ? undefined
          : { mode: o.quantize, ...(o.quantBlockSize === undefined ? {} : { blockSize: o.quantBlockSize }) };
      const r = await mergeAdapter(o.model, o.adapter, o.out, quantize === undefined ? {} : { quantize });
      const dq = r.dequantizedToFloat32;
      if (o.json)
        print(
          `${JSON.stringify({ out: r.outDir, method: r.method, changed: r.changed, ...(dq !== undefined && { dequantized_to_float32: dq }) })}\n`,
        );
      else {
        if (dq !== undefined)
          print(
            `base dequantized from ${o.quantize}: ${dq} weights merged and written in float32 (merging back into ${o.quantize} would change the outputs)\n`,
          );
        print(`merged ${r.method} adapter into ${r.changed} tensors: ${r.outDir}\n`);
      }
    });
}
