// tunemesh against an eager-PyTorch peer in one run on the same machine: the `train` benchmark's LoRA and full
// fine-tuning steps (the `small` model, batch 4 × 256) through `tunemesh bench`, then the same step in
// bench/peer/torch_train.py (the Hugging Face transformers + PEFT computation written against plain torch, since
// neither library can be installed here), alternating per method so a change in load hits both.
//
// Which PyTorch: TUNEMESH_PEER_PYTHON (default /usr/bin/python3, where Debian's python3-torch installs). Without
// torch the benchmark says so and measures nothing. Read the peer's `torch` and `matmul_peak_gflops` before its
// numbers: Debian's build (1.13, generic BLAS) is far slower than a PyTorch 2.x wheel with MKL and oneDNN, which is
// what the peer figures were measured with.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyModel } from '../packages/engine/src/index.js';
import { SMALL } from './models.js';
import { benchChild, cliCommand, TRAIN_RUNS } from './train.js';
import type { Benchmark } from './types.js';

const BATCH = 4;
const SEQ = 256;
const STEPS = Number(process.env.TUNEMESH_BENCH_STEPS ?? 6);
const WARMUP = 2;
const PYTHON = process.env.TUNEMESH_PEER_PYTHON ?? '/usr/bin/python3';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function python(args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((done) => {
    execFile(PYTHON, args, { cwd: repo, timeout: 15 * 60_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      done({ ok: err === null, out: stdout.trim(), err: stderr.trim() || (err?.message ?? '') }),
    );
  });
}

export const peerBench: Benchmark = {
  name: 'peer',
  description: `tunemesh vs eager PyTorch (${PYTHON}), LoRA and full fine-tuning on the small model, batch ${BATCH} × ${SEQ}`,
  async run(log) {
    const probe = await python(['-c', 'import torch; print(torch.__version__)']);
    if (!probe.ok) {
      log(`no PyTorch for ${PYTHON} (${probe.err.split('\n').at(-1)}): nothing measured`);
      return { skipped: `no PyTorch for ${PYTHON}` };
    }
    const dir = await mkdtemp(join(tmpdir(), 'tunemesh-bench-peer-'));
    try {
      await makeTinyModel({ arch: 'qwen2', out: dir, sizes: SMALL, seed: 0 });
      const cli = await cliCommand();
      log(`PyTorch ${probe.out}; tunemesh bench runs from the ${cli.label}`);
      const shape = ['--batch-size', String(BATCH), '--seq-len', String(SEQ), '--steps', String(STEPS)];
      const results: Record<string, unknown> = {};
      for (const run of TRAIN_RUNS) {
        const ours = await benchChild(cli.argv, ['--model', dir, ...run.flags, ...shape, '--warmup', String(WARMUP)]);
        const peer = await python([
          'bench/peer/torch_train.py',
          '--model',
          dir,
          '--method',
          run.name,
          ...shape,
          '--warmup',
          String(WARMUP),
        ]);
        if (!peer.ok) throw new Error(`the PyTorch peer failed: ${peer.err}`);
        const theirs = JSON.parse(peer.out.split('\n').at(-1) as string) as Record<string, number>;
        const n = (r: Record<string, unknown>, k: string) => r[k] as number;
        const speed = n(ours, 'tokens_per_s') / n(theirs, 'tokens_per_s');
        const memory = n(ours, 'peak_rss_mb') / n(theirs, 'peak_rss_mb');
        log(
          `${run.name}: tunemesh ${n(ours, 'tokens_per_s').toFixed(0)} tokens/s, ${n(ours, 'peak_rss_mb').toFixed(0)} MB, ` +
            `MFU ${(100 * n(ours, 'mfu')).toFixed(1)}% | PyTorch ${n(theirs, 'tokens_per_s').toFixed(0)} tokens/s, ` +
            `${n(theirs, 'peak_rss_mb').toFixed(0)} MB, MFU ${(100 * n(theirs, 'mfu')).toFixed(1)}% of its own ` +
            `${n(theirs, 'matmul_peak_gflops').toFixed(0)} GFLOP/s | speed ×${speed.toFixed(2)}, memory ×${memory.toFixed(2)}`,
        );
        results[run.name] = { tunemesh: ours, peer: theirs, speed_ratio: speed, memory_ratio: memory };
      }
      return { torch: probe.out, batch: BATCH, seq: SEQ, steps: STEPS, ...results };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
