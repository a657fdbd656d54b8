// Worker threads that tokenise an import's rows, one per core: tokenising (chat-template renders and BPE)
// is nearly all of an import's CPU time, and the rest (reading, hashing, writing) stays on the main thread.
// Batches go out round-robin and come back by id; DataValidation puts them back in file order, so the
// stored data does not depend on which thread did what.

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DataRow, RowTokenization } from '@tunemesh/engine';
import type { ImportSettings } from './settings.js';
import type { TokenizeReply, TokenizeRequest, TokenizeWorkerData } from './tokenize-protocol.js';

interface Pending {
  resolve: (r: RowTokenization[]) => void;
  reject: (e: Error) => void;
}

/**
 * The default number of tokenising threads: one per core the process may use, at most 4 — the main thread
 * still reads, checks, hashes and writes every row (about a fifth of the work per row), so it keeps up with
 * about four, and each thread holds its own tokenizer and heap.
 */
export function defaultTokenizeThreads(): number {
  return Math.min(availableParallelism(), 4);
}

function startWorker(data: TokenizeWorkerData): Worker {
  // From TypeScript source (vitest, tsx) the worker is a .ts file, loaded through tsx's API by a small eval'd
  // bootstrap (Node 20 applies no --import loader to a worker's entry), with the source export condition so
  // it runs the same engine code as this thread. From dist/ it is plain .js.
  if (import.meta.url.endsWith('.ts')) {
    const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
    const entry = new URL('./tokenize-worker.ts', import.meta.url).href;
    const boot = `import(${JSON.stringify(tsxApi)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
    const execArgv = [...new Set([...process.execArgv, '--conditions=tunemesh-source'])];
    return new Worker(boot, { eval: true, workerData: data, execArgv });
  }
  return new Worker(new URL('./tokenize-worker.js', import.meta.url), { workerData: data });
}

export class TokenizePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  /** Which worker holds each pending request, to fail them when it dies. */
  private readonly owner = new Map<number, Worker>();
  private nextId = 1;
  private turn = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(settings: ImportSettings, threads = defaultTokenizeThreads()) {
    const n = Math.max(1, Math.floor(threads));
    this.workers = Array.from({ length: n }, () => {
      const w = startWorker({ settings });
      w.on('message', (reply: TokenizeReply) => this.settle(reply));
      w.on('error', (err) => this.fail(w, err));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(w, new Error(`a tokenising worker thread exited (code ${code})`));
      });
      return w;
    });
  }

  /** A DataValidation tokenizeBatch for the file named `name`. */
  tokenizerFor(name: string): (rows: readonly DataRow[]) => Promise<RowTokenization[]> {
    return (rows) => this.tokenize(name, rows);
  }

  tokenize(name: string, rows: readonly DataRow[]): Promise<RowTokenization[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the tokenising threads are closed'));
    const id = this.nextId++;
    const worker = this.workers[this.turn++ % this.workers.length] as Worker;
    return new Promise<RowTokenization[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.owner.set(id, worker);
      const req: TokenizeRequest = { id, name, rows };
      worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('the tokenising threads were closed'));
    this.pending.clear();
    this.owner.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(reply: TokenizeReply): void {
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    this.pending.delete(reply.id);
    this.owner.delete(reply.id);
    if ('error' in reply) p.reject(new Error(reply.error));
    else p.resolve(reply.results);
  }

  private fail(worker: Worker, err: Error): void {
    this.failure ??= err;
    for (const [id, w] of this.owner) {
      if (w !== worker) continue;
      this.pending.get(id)?.reject(err);
      this.pending.delete(id);
      this.owner.delete(id);
    }
  }
}
