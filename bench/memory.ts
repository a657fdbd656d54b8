// Memory of a QLoRA-style quantized base and of gradient checkpointing, on the `small` model (Qwen2-style, hidden
// 512, 8 layers, intermediate 1408, vocab 4096, float32, 25.7 M parameters): LoRA r=8 on q_proj and v_proj,
// batch 4 × 256, AdamW lr 1e-3, the same batch at every step. Each configuration runs in a child process of its
// own (bench/memory-child.ts) so that its peak RSS is its own; the float base is the reference for the losses.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel } from '../packages/engine/src/index.js';
import type { Benchmark } from './types.js';

const SMALL = { hidden: 512, layers: 8, heads: 8, kvHeads: 4, intermediate: 1408, vocab: 4096 } as const;
const STEPS = Number(process.env.TUNEMESH_BENCH_STEPS ?? 4);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const RUNS: readonly { name: string; flags: string[] }[] = [
  { name: 'float32', flags: [] },
  { name: 'int8', flags: ['--quantize', 'int8'] },
  { name: 'int4 block 64', flags: ['--quantize', 'int4', '--block', '64'] },
  { name: 'float32 + checkpointing', flags: ['--ckpt'] },
  { name: 'int4 block 64 + checkpointing', flags: ['--quantize', 'int4', '--block', '64', '--ckpt'] },
];

interface ChildResult {
  losses: number[];
  step_s: number;
  rss_before_train_mb: number;
  rss_train_max_mb: number;
  peak_rss_mb: number;
  float_bytes: number;
  quant_bytes: number;
}

function child(args: string[]): Promise<ChildResult> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--conditions=tunemesh-source', '--import', 'tsx', 'bench/memory-child.ts', ...args],
      { cwd: repo, env: process.env, timeout: 10 * 60_000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) fail(new Error(`memory-child failed: ${stderr.trim() || err.message}`));
        else done(JSON.parse(stdout.trim().split('\n').at(-1) as string) as ChildResult);
      },
    );
  });
}

export const memoryBench: Benchmark = {
  name: 'memory',
  description: 'peak RSS and losses: float32 vs int8/int4 base (QLoRA), with and without gradient checkpointing',
  async run(log) {
    const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-memory-'));
    try {
      const info = await makeTinyModel({ arch: 'qwen2', out: dir, sizes: SMALL, seed: 0 });
      log(`model: ${(info.parameters / 1e6).toFixed(1)} M parameters; LoRA r=8 q/v, batch 4 × 256, ${STEPS} steps`);
      const results: Record<string, ChildResult> = {};
      let ref: ChildResult | undefined;
      for (const run of RUNS) {
        const r = await child(['--model', dir, '--steps', String(STEPS), ...run.flags]);
        results[run.name] = r;
        ref ??= r;
        const diff = Math.max(...r.losses.map((l, i) => Math.abs(l - (ref?.losses[i] ?? Number.NaN))));
        const q =
          r.quant_bytes > 0
            ? `, quantized weights ${(r.float_bytes / 2 ** 20).toFixed(1)} → ${(r.quant_bytes / 2 ** 20).toFixed(1)} MiB`
            : '';
        log(
          `${run.name}: peak RSS ${r.peak_rss_mb.toFixed(0)} MiB (before training ${r.rss_before_train_mb.toFixed(0)}), ` +
            `${r.step_s.toFixed(2)} s/step, losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}, ` +
            `max |loss − float32| ${diff.toExponential(2)}${q}`,
        );
      }
      return { steps: STEPS, parameters: info.parameters, ...results };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
