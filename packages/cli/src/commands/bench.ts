import { benchTraining, formatParamCount, getMethod, loadModelDir } from '@tunemesh/engine';
import { type Command, Option } from 'commander';
import { integer, nonNegativeInt, positiveInt } from '../parse.js';
import { OPTIMIZERS } from './train.js';
import { addMethodOptions, choice, type MethodFlags, methodConfigFromFlags } from './train-options.js';

interface BenchOpts extends MethodFlags {
  model: string;
  batchSize: number;
  seqLen: number;
  steps: number;
  warmup: number;
  optimizer: (typeof OPTIMIZERS)[number];
  seed: number;
  threads?: number;
  keepBaseWeights?: boolean;
  recomputeAttention?: boolean;
  json?: boolean;
}

export function registerBench(program: Command, print: (s: string) => void): void {
  const cmd = program
    .command('bench')
    .description('time training steps on random tokens: tokens/s, seconds per step, peak RSS, MFU')
    .requiredOption('--model <dir>', 'Hugging Face model directory');
  addMethodOptions(cmd)
    .option('--batch-size <b>', 'rows per step', positiveInt, 4)
    .option('--seq-len <l>', 'tokens per row', positiveInt, 256)
    .option('--steps <n>', 'timed optimizer steps', positiveInt, 5)
    .option('--warmup <n>', 'untimed steps first', nonNegativeInt, 2)
    .addOption(new Option('--optimizer <name>', 'adamw or sgd').argParser(choice(OPTIMIZERS)).default('adamw'))
    .option('--seed <s>', 'seed for the random tokens and the adapter initialisation', integer, 0)
    .option('--threads <n>', 'onnxruntime intra-op threads', positiveInt)
    .option('--keep-base-weights', "keep the main thread's copy of the base weights (as before releasing them)")
    .option('--no-recompute-attention', 'keep the attention probabilities for the backward pass (as train can)')
    .option('--json', 'print one JSON object')
    .action(async (o: BenchOpts) => {
      const base = await loadModelDir(o.model);
      const name = o.method ?? 'lora';
      const applied = getMethod(name).apply(
        { config: base.config, weights: base.weights, dir: o.model },
        methodConfigFromFlags(o, name),
        { seed: o.seed },
      );
      const r = await benchTraining({
        model: { config: base.config, weights: base.weights },
        method: applied,
        batchSize: o.batchSize,
        seqLen: o.seqLen,
        steps: o.steps,
        warmup: o.warmup,
        optimizer: o.optimizer,
        seed: o.seed,
        ...(o.threads !== undefined && { threads: o.threads }),
        // As `train` runs: the base weights are freed here once onnxruntime's session holds its own copy.
        releaseFrozenWeights: o.keepBaseWeights !== true,
        ...(o.recomputeAttention === false && { recomputeAttention: false }),
      });
      if (o.json) {
        print(`${JSON.stringify({ method: name, batch_size: o.batchSize, seq_len: o.seqLen, ...r })}\n`);
        return;
      }
      const pct = r.mfu === null ? 'n/a' : `${(100 * r.mfu).toFixed(1)}%`;
      print(
        [
          `${formatParamCount(applied.countParams())}`,
          `tokens/s     ${r.tokens_per_s.toFixed(0)}`,
          `step         ${r.step_s.toFixed(3)} s (${o.steps} steps after ${o.warmup} warm-up)`,
          `peak RSS     ${r.peak_rss_mb.toFixed(0)} MB`,
          `MFU          ${pct} of a ${r.matmul_peak_gflops?.toFixed(0) ?? '?'} GFLOP/s float32 MatMul peak (${(r.model_flops_per_token / 1e6).toFixed(1)} MFLOP/token)`,
          '',
        ].join('\n'),
      );
    });
}
