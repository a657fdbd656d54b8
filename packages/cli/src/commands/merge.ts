import { mergeAdapter } from '@tunemesh/engine';
import type { Command } from 'commander';

interface MergeOpts {
  model: string;
  adapter: string;
  out: string;
  json?: boolean;
}

export function registerMerge(program: Command, print: (s: string) => void): void {
  program
    .command('merge')
    .description('merge a trained adapter (LoRA or BitFit) into its base model and write a plain model directory')
    .requiredOption('--model <dir>', 'base Hugging Face model directory')
    .requiredOption('--adapter <dir>', 'adapter directory (PEFT LoRA, DoRA or IA3, or a tunemesh BitFit result)')
    .requiredOption('--out <dir>', 'directory for the merged model (config and tokenizer copied from --model)')
    .option('--json', 'print {"out","method","changed"}')
    .action(async (o: MergeOpts) => {
      const r = await mergeAdapter(o.model, o.adapter, o.out);
      if (o.json) print(`${JSON.stringify({ out: r.outDir, method: r.method, changed: r.changed })}\n`);
      else print(`merged ${r.method} adapter into ${r.changed} tensors: ${r.outDir}\n`);
    });
}
