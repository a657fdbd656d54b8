// Training throughput on the `small` model (Qwen2-style, hidden 512, 8 layers, 8 heads, 4 KV heads,
// intermediate 1408, vocab 4096, float32): LoRA r=8 on q_proj and v_proj, and full fine-tuning, batch 4 × 256
// random tokens, AdamW. Each method runs as its own `tunemesh bench` child process, so each peak RSS is that
// method's alone; each process also measures the float32 MatMul peak its MFU is taken against. The child is the
// built CLI (packages/cli/dist, what `pnpm tunemesh` runs; `make bench` builds first) when it is newer than every
// engine and CLI source, so that its peak RSS is what a user's run has; otherwise (or with
// TUNEMESH_BENCH_FROM_SOURCE=1) the sources through tsx, whose loader adds ≈ 50–70 MB.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel } from '../packages/engine/src/index.js';
import { SMALL } from './models.js';
import type { Benchmark } from './types.js';

const BATCH = 4;
const SEQ = 256;
const STEPS = Number(process.env.TUNEMESH_BENCH_STEPS ?? 6);
const WARMUP = 2;
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The methods the train (and peer) benchmarks time, with their `tunemesh bench` flags. */
export const TRAIN_RUNS: readonly { name: string; flags: string[] }[] = [
  { name: 'lora', flags: ['--method', 'lora', '--r', '8', '--alpha', '16', '--target-modules', 'q_proj,v_proj'] },
  { name: 'full', flags: ['--method', 'full'] },
];

/** Newest modification time of the .ts sources under `dir`, tests left out (a build does not emit them). */
async function newestSource(dir: string): Promise<number> {
  let t = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile() && e.name.endsWith('.ts') && !e.name.includes('.test.'))
      t = Math.max(t, (await stat(join(e.parentPath, e.name))).mtimeMs);
  }
  return t;
}

/**
 * The CLI entry to run: the build when it is current, else the sources through tsx. Current means each package's
 * last build (its tsconfig.tsbuildinfo, which `tsc -b` writes on every build, even one that re-emits nothing
 * because only timestamps changed) is newer than its newest source.
 */
export async function cliCommand(): Promise<{ argv: string[]; label: string }> {
  const fromSource = {
    argv: ['--conditions=tunemesh-source', '--import', 'tsx', 'packages/cli/src/main.ts'],
    label: 'sources through tsx',
  };
  if (process.env.TUNEMESH_BENCH_FROM_SOURCE === '1') return fromSource;
  for (const pkg of ['cli', 'engine']) {
    const root = join(repo, 'packages', pkg);
    const built = await stat(join(root, 'tsconfig.tsbuildinfo')).then(
      (st) => st.mtimeMs,
      () => 0,
    );
    if (built <= (await newestSource(join(root, 'src')))) return fromSource;
  }
  return { argv: [join(repo, 'packages/cli/dist/main.js')], label: 'built CLI (packages/cli/dist)' };
}

export function benchChild(cli: string[], args: string[]): Promise<Record<string, unknown>> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [...cli, 'bench', ...args, '--json'],
      { cwd: repo, env: process.env, timeout: 15 * 60_000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) fail(new Error(`tunemesh bench failed: ${stderr.trim() || err.message}`));
        else done(JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>);
      },
    );
  });
}

export const trainBench: Benchmark = {
  name: 'train',
  description: 'LoRA (r=8, q/v) and full fine-tuning steps/s on the small Qwen2-style model, batch 4 × 256, AdamW',
  async run(log) {
    const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-train-'));
    try {
      const info = await makeTinyModel({ arch: 'qwen2', out: dir, sizes: SMALL, seed: 0 });
      log(`model: ${(info.parameters / 1e6).toFixed(1)} M parameters`);
      const cli = await cliCommand();
      log(`tunemesh bench runs from the ${cli.label}`);
      const threads = process.env.TUNEMESH_THREADS ? ['--threads', process.env.TUNEMESH_THREADS] : [];
      // TUNEMESH_BENCH_KEEP_BASE=1: keep the main thread's base weights (the peak RSS before they were released).
      const keep = process.env.TUNEMESH_BENCH_KEEP_BASE === '1' ? ['--keep-base-weights'] : [];
      const results: Record<string, unknown> = {};
      for (const run of TRAIN_RUNS) {
        const r = await benchChild(cli.argv, [
          '--model',
          dir,
          ...run.flags,
          '--batch-size',
          String(BATCH),
          '--seq-len',
          String(SEQ),
          '--steps',
          String(STEPS),
          '--warmup',
          String(WARMUP),
          ...threads,
          ...keep,
        ]);
        const n = (k: string) => r[k] as number;
        log(
          `${run.name}: ${n('tokens_per_s').toFixed(0)} tokens/s, ${n('step_s').toFixed(3)} s/step ` +
            `(steps: ${(r.steps_s as number[]).map((s) => s.toFixed(3)).join(', ')}), peak RSS ${n('peak_rss_mb').toFixed(0)} MB, ` +
            `MFU ${(100 * n('mfu')).toFixed(1)}% of ${n('matmul_peak_gflops').toFixed(0)} GFLOP/s, trainable ${n('trainable_params').toLocaleString('en-US')}`,
        );
        results[run.name] = r;
      }
      return {
        batch: BATCH,
        seq: SEQ,
        steps: STEPS,
        warmup: WARMUP,
        parameters: info.parameters,
        cli: cli.label,
        ...results,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
