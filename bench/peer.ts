// tunemesh against an eager-PyTorch peer in one run on the same machine: the `train` benchmark's LoRA and full
// fine-tuning steps (the `small` model, batch 4 × 256) through `tunemesh bench`, then the same step in
// bench/peer/torch_train.py (the Hugging Face transformers + PEFT computation written against plain torch, since
// neither library can be installed here), alternating per method so a change in load hits both.
//
// Which PyTorch: TUNEMESH_PEER_PYTHON (default /usr/bin/python3, where Debian's python3-torch installs). Without
// torch the benchmark says so and measures nothing. Read the peer's `torch` and `matmul_peak_gflops` before its
// numbers: Debian's build (1.13, generic BLAS) is slower than a PyTorch 2.x wheel with MKL where OpenBLAS's GEMM
// is. TUNEMESH_PEER_BLAS=mkl gives it MKL instead (peer-blas.ts). TUNEMESH_PEER_ROUNDS (default 1) repeats the
// alternation; every pair is reported, and the best of each side against the other's best.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel } from '../packages/engine/src/index.js';
import { SMALL } from './models.js';
import { peerBlasEnv } from './peer-blas.js';
import { benchChild, cliCommand, TRAIN_RUNS } from './train.js';
import type { Benchmark } from './types.js';

const BATCH = 4;
const SEQ = 256;
const STEPS = Number(process.env.TUNEMESH_BENCH_STEPS ?? 6);
const WARMUP = 2;
const ROUNDS = Number(process.env.TUNEMESH_PEER_ROUNDS ?? 1);
const PYTHON = process.env.TUNEMESH_PEER_PYTHON ?? '/usr/bin/python3';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function python(args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((done) => {
    execFile(PYTHON, args, { cwd: repo, env, timeout: 15 * 60_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      done({ ok: err === null, out: stdout.trim(), err: stderr.trim() || (err?.message ?? '') }),
    );
  });
}

type Result = Record<string, number>;
const n = (r: Result, k: string) => r[k] as number;
const best = (rs: Result[]) => rs.reduce((a, b) => (n(b, 'tokens_per_s') > n(a, 'tokens_per_s') ? b : a));

export const peerBench: Benchmark = {
  name: 'peer',
  description: `tunemesh vs eager PyTorch (${PYTHON}), LoRA and full fine-tuning on the small model, batch ${BATCH} × ${SEQ}`,
  async run(log) {
    const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-peer-'));
    try {
      const blas = await peerBlasEnv(process.env.TUNEMESH_PEER_BLAS ?? 'default', dir);
      const probe = await python(['-c', 'import torch; print(torch.__version__)'], blas.env);
      if (!probe.ok) {
        log(`no PyTorch for ${PYTHON} (${probe.err.split('\n').at(-1)}): nothing measured`);
        return { skipped: `no PyTorch for ${PYTHON}` };
      }
      const model = join(dir, 'model');
      await makeTinyModel({ arch: 'qwen2', out: model, sizes: SMALL, seed: 0 });
      const cli = await cliCommand();
      log(`PyTorch ${probe.out} with ${blas.label}; tunemesh bench runs from the ${cli.label}`);
      const shape = ['--batch-size', String(BATCH), '--seq-len', String(SEQ), '--steps', String(STEPS)];
      const pairs = new Map<string, { ours: Result; theirs: Result }[]>(TRAIN_RUNS.map((r) => [r.name, []]));
      for (let round = 1; round <= ROUNDS; round++) {
        for (const run of TRAIN_RUNS) {
          const ours = (await benchChild(cli.argv, [
            '--model',
            model,
            ...run.flags,
            ...shape,
            '--warmup',
            String(WARMUP),
          ])) as Result;
          const peerArgs = ['bench/peer/torch_train.py', '--model', model, '--method', run.name, ...shape];
          const peer = await python([...peerArgs, '--warmup', String(WARMUP)], blas.env);
          if (!peer.ok) throw new Error(`the PyTorch peer failed: ${peer.err}`);
          const theirs = JSON.parse(peer.out.split('\n').at(-1) as string) as Result;
          pairs.get(run.name)?.push({ ours, theirs });
          log(`${run.name}, round ${round}: ${line(ours, theirs)}`);
        }
      }
      const results: Record<string, unknown> = {};
      for (const [method, ps] of pairs) {
        const ours = best(ps.map((p) => p.ours));
        const theirs = best(ps.map((p) => p.theirs));
        if (ROUNDS > 1) log(`${method}, best against best: ${line(ours, theirs)}`);
        results[method] = {
          pairs: ps,
          speed_ratio: n(ours, 'tokens_per_s') / n(theirs, 'tokens_per_s'),
          memory_ratio: n(ours, 'peak_rss_mb') / n(theirs, 'peak_rss_mb'),
          pair_speed_ratios: ps.map((p) => n(p.ours, 'tokens_per_s') / n(p.theirs, 'tokens_per_s')),
        };
      }
      return { torch: probe.out, blas: blas.label, batch: BATCH, seq: SEQ, steps: STEPS, rounds: ROUNDS, ...results };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

function line(ours: Result, theirs: Result): string {
  const speed = n(ours, 'tokens_per_s') / n(theirs, 'tokens_per_s');
  const memory = n(ours, 'peak_rss_mb') / n(theirs, 'peak_rss_mb');
  const side = (r: Result) =>
    `${n(r, 'tokens_per_s').toFixed(0)} tokens/s, ${n(r, 'peak_rss_mb').toFixed(0)} MB, ` +
    `MFU ${(100 * n(r, 'mfu')).toFixed(1)}% of its own ${n(r, 'matmul_peak_gflops').toFixed(0)} GFLOP/s`;
  return `tunemesh ${side(ours)} | PyTorch ${side(theirs)} | speed ×${speed.toFixed(2)}, memory ×${memory.toFixed(2)}`;
}
