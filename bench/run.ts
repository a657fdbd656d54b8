// Benchmark entry point (`make bench`): runs every registered benchmark, or those named on the command line
// (`node --conditions=tunemesh-source --import tsx bench/run.ts forward`). A benchmark is a file exporting a
// `Benchmark`; add it to BENCHMARKS below.

import { arch, cpus, totalmem } from 'node:os';
import { releaseAllSessions } from '../packages/engine/src/index.js';
import { datasetBench } from './dataset.js';
import { evaluatorBench } from './evaluator.js';
import { forward } from './forward.js';
import { memoryBench } from './memory.js';
import { peerBench } from './peer.js';
import { trainBench } from './train.js';
import { trainerServiceBench } from './trainer-service.js';
import type { Benchmark } from './types.js';

const BENCHMARKS: readonly Benchmark[] = [
  forward,
  trainBench,
  datasetBench,
  evaluatorBench,
  memoryBench,
  trainerServiceBench,
  peerBench,
];

async function main(): Promise<number> {
  const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const json = process.argv.includes('--json');
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown benchmark ${unknown.join(', ')} (have: ${BENCHMARKS.map((b) => b.name).join(', ')})\n`,
    );
    return 2;
  }
  const selected = names.length > 0 ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS;
  const cpu = cpus();
  const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} (${arch()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  process.stdout.write(`machine: ${machine}\ndate: ${new Date().toISOString()}\n\n`);
  const results: Record<string, unknown> = {};
  for (const b of selected) {
    process.stdout.write(`== ${b.name}: ${b.description}\n`);
    results[b.name] = await b.run((line) => process.stdout.write(`${line}\n`));
    process.stdout.write('\n');
  }
  await releaseAllSessions();
  if (json) process.stdout.write(`${JSON.stringify({ machine, date: new Date().toISOString(), results })}\n`);
  return 0;
}

process.exit(await main());
