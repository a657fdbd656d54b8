// Import and validate 100,000 chat examples (≈50 MB JSONL) with tokenisation through the tiny-qwen2 fixture's
// tokenizer and chat template — the dataset service's Importer in-process, with its SQLite store and artefact
// folder — sampling the process RSS every 250 ms to show whether memory stays flat. Then reads the stored
// dataset back as StreamExamples does (seeded shuffle, tokenised) to measure streaming throughput.
// BENCH_DATASET_N changes the number of examples.

import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom, tokenizeRow } from '../packages/engine/src/index.js';
import { Importer, tokenizerFor, validateOptions } from '../services/dataset/src/import/importer.js';
import type { ImportSettings } from '../services/dataset/src/import/settings.js';
import { stageCopy } from '../services/dataset/src/import/staging.js';
import { defaultTokenizeThreads } from '../services/dataset/src/import/tokenize-pool.js';
import { ArtefactStore } from '../services/dataset/src/store/artefacts.js';
import { openDatabase } from '../services/dataset/src/store/db.js';
import { DatasetRecords } from '../services/dataset/src/store/records.js';
import { StoredDataset } from '../services/dataset/src/stored.js';
import type { Benchmark } from './types.js';

const N = Number(process.env.BENCH_DATASET_N ?? 100_000);
const STREAM_EXAMPLES = 10_000;
const MODEL = resolve(fileURLToPath(new URL('../../shared/fixtures/models/tiny-qwen2', import.meta.url)));

const WORDS =
  'the of and to in is was that for on with as by at from this be are it an or which have has not but their more one all would there been can were what when who will about into than them these so some her him time only other most also its may new after first two any such like then over'.split(
    ' ',
  );

/** Seeded synthetic conversations, ~500 bytes each: a system prompt on some, one to three user/assistant turns. */
async function writeChatFile(path: string, n: number): Promise<void> {
  const next = seededRandom(1234);
  const sentence = (min: number, max: number) => {
    const k = min + Math.floor(next() * (max - min));
    return Array.from({ length: k }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ');
  };
  const out = createWriteStream(path);
  for (let i = 0; i < n; i++) {
    const messages: { role: string; content: string }[] = [];
    if (next() < 0.3) messages.push({ role: 'system', content: `You are assistant ${i % 97}. ${sentence(4, 10)}.` });
    const turns = 1 + Math.floor(next() * 2);
    for (let t = 0; t < turns; t++) {
      messages.push({ role: 'user', content: `${sentence(8, 30)}?` });
      messages.push({ role: 'assistant', content: `${sentence(10, 40)}. (${i}.${t})` });
    }
    const line = `${JSON.stringify({ messages })}\n`;
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
}

const mib = (b: number) => b / 2 ** 20;

/** The median of each tenth of a series of samples. */
function tenths(xs: readonly number[]): number[] {
  const out: number[] = [];
  for (let t = 0; t < 10; t++) {
    const part = xs.slice(Math.floor((t * xs.length) / 10), Math.floor(((t + 1) * xs.length) / 10));
    out.push([...part].sort((a, b) => a - b)[part.length >> 1] ?? 0);
  }
  return out;
}

export const datasetBench: Benchmark = {
  name: 'dataset',
  description: `import + validate + tokenise ${N.toLocaleString('en-US')} chat examples (JSONL), then stream them back`,
  async run(log) {
    const dir = await mkdtemp(join(tmpdir(), 'tm-bench-dataset-'));
    try {
      const file = join(dir, 'chat.jsonl');
      let t0 = performance.now();
      await writeChatFile(file, N);
      const bytes = (await stat(file)).size;
      log(`wrote ${N} examples, ${mib(bytes).toFixed(1)} MiB, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

      const db = await openDatabase({ kind: 'sqlite', path: join(dir, 'datasets.sqlite') });
      const artefacts = new ArtefactStore(join(dir, 'artefacts'));
      await artefacts.init();
      // BENCH_DATASET_THREADS: tokenising worker threads (default: the service's, one per core; 0: none).
      const threadsEnv = process.env.BENCH_DATASET_THREADS;
      const threads = threadsEnv === undefined ? defaultTokenizeThreads() : Number(threadsEnv);
      const importer = new Importer({
        records: new DatasetRecords(db),
        artefacts,
        tokenizeThreads: { threads },
      });
      const settings: ImportSettings = {
        template: {},
        split: { kind: 'fraction', fraction: 0.1 },
        seed: 42,
        tokenizer: { ref: 'tiny-qwen2', dir: MODEL },
        maxLength: 512,
        overlength: 'truncate',
        removeDuplicates: false,
      };
      await tokenizerFor(MODEL); // loading the tokenizer is not part of the import

      const rss: number[] = [];
      const heap: number[] = [];
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        rss.push(m.rss);
        heap.push(m.heapUsed);
      }, 250);
      const rssStart = process.memoryUsage().rss;
      t0 = performance.now();
      const staging = await artefacts.stage();
      const source = await stageCopy(staging, file, 'source', Number.MAX_SAFE_INTEGER);
      const { record } = await importer.run({ staging, source }, settings, 'bench');
      const importS = (performance.now() - t0) / 1000;
      clearInterval(sampler);
      const train = record.statistics.splits[0]?.lengths;
      const quarter = Math.floor(rss.length / 4);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
      const result = {
        examples: N,
        fileMiB: +mib(bytes).toFixed(1),
        status: record.status,
        importSeconds: +importS.toFixed(1),
        examplesPerSecond: Math.round(N / importS),
        megabytesPerSecond: +(mib(bytes) / importS).toFixed(2),
        trainTokens: train?.totalTokens ?? 0,
        rssStartMiB: +mib(rssStart).toFixed(0),
        rssSecondQuarterMedianMiB: +mib(median(rss.slice(quarter, 2 * quarter))).toFixed(0),
        rssLastQuarterMedianMiB: +mib(median(rss.slice(3 * quarter))).toFixed(0),
        rssPeakMiB: +mib(Math.max(...rss, rssStart)).toFixed(0),
        // RSS at each tenth of the import (the median of that tenth's samples), to show whether it levels off.
        rssByTenthMiB: tenths(rss).map((b) => +mib(b).toFixed(0)),
        mainHeapByTenthMiB: tenths(heap).map((b) => +mib(b).toFixed(0)),
        tokenizeThreads: threads,
      };
      log(
        `import: ${result.status} in ${result.importSeconds} s (${result.examplesPerSecond} examples/s, ${result.megabytesPerSecond} MiB/s), ${result.trainTokens} training tokens`,
      );
      log(
        `RSS: start ${result.rssStartMiB} MiB, median 2nd quarter ${result.rssSecondQuarterMedianMiB} MiB, median last quarter ${result.rssLastQuarterMedianMiB} MiB, peak ${result.rssPeakMiB} MiB`,
      );
      log(`RSS by tenth of the import (MiB): ${result.rssByTenthMiB.join(' ')}; tokenising threads: ${threads}`);
      log(`main thread's V8 heap by tenth (MiB): ${result.mainHeapByTenthMiB.join(' ')}`);

      // Streaming: what StreamExamples does per example (seeded order, read by offset, tokenise), without gRPC.
      const tok = await tokenizerFor(MODEL);
      const opts = { ...validateOptions(settings, tok, 'bench').template, maxLength: 512 };
      const data = await StoredDataset.open(artefacts.dir(record.contentSha256));
      const order = data.order('train', true, 42, 0).slice(0, STREAM_EXAMPLES);
      t0 = performance.now();
      let tokens = 0;
      for (let i = 0; i < order.length; i += 64) {
        for (const e of await data.read(order.slice(i, i + 64)))
          tokens += tokenizeRow(e.row, tok, opts).input_ids.length;
      }
      const streamS = (performance.now() - t0) / 1000;
      const stream = {
        streamedExamples: order.length,
        streamExamplesPerSecond: Math.round(order.length / streamS),
        streamTokensPerSecond: Math.round(tokens / streamS),
      };
      log(
        `stream: ${stream.streamedExamples} examples in ${streamS.toFixed(1)} s: ${stream.streamExamplesPerSecond} examples/s, ${stream.streamTokensPerSecond} tokens/s`,
      );
      await db.destroy();
      return { ...result, ...stream };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
