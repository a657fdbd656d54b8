// The engine's one door to onnxruntime (with worker.ts, which it starts). Sessions live in worker threads
// because onnxruntime-node's run blocks the thread it runs on; this module owns the workers, the device ->
// execution-provider map, and a cache of sessions keyed by graph hash and options.
//
// Threading: sessions with the same (device, threads) share one worker, so a run of one waits for a run of
// another (they would compete for the same cores anyway). `isolate: true` gives a session its own worker.
//
// Data crossing threads: feeds are copied by postMessage's structured clone unless the caller passes
// `transferFeeds: true`, which moves their ArrayBuffers to the worker (the caller's arrays become empty).
// Outputs are fresh copies made by onnxruntime and are moved back without a further copy.

import type { Worker } from 'node:worker_threads';
import { EngineError } from '../errors.js';
import type { OptimizerSpec, ResidentStepRequest, ResidentStepResult } from '../train/resident.js';
import type { Graph, TensorData } from './ir.js';
import { graphHash, type SerializeOptions, serializeModel } from './serialize.js';
import { startModuleWorker } from './start-worker.js';
import type { OrtSessionConfig, Reply, Request } from './worker-protocol.js';

export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads (default: onnxruntime's choice, one per core). */
  threads?: number;
  /** Run this session in a worker of its own instead of the one shared per (device, threads). */
  isolate?: boolean;
  /** Passed to serializeModel (e.g. a lower external-data threshold). */
  serialize?: SerializeOptions;
  /**
   * Let onnxruntime pre-pack constant GEMM weights (default true). Each MatMul/FusedMatMul that reads a constant
   * weight then keeps its own packed copy — two for a training graph, whose backward reads every frozen weight in
   * the other orientation. false keeps one copy (≈ 150 MB less for the bench's LoRA step; bench/README.md).
   */
  prepack?: boolean;
}

export interface RunOptions {
  /** Move the feeds' buffers to the worker instead of copying them; the caller must not use them afterwards. */
  transferFeeds?: boolean;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The graph hash this session was created from. */
  readonly key: string;
  run(
    feeds: Record<string, TensorData>,
    fetch?: readonly string[],
    opts?: RunOptions,
  ): Promise<Record<string, TensorData>>;
  /** Drops one holder's claim (createSession of a cached graph adds one); the last release frees the session. */
  release(): Promise<void>;
  readonly closed: boolean;
  /** Milliseconds onnxruntime spent inside the last run (without message passing). */
  readonly lastRunMs: number;
}

export class OnnxRuntimeError extends EngineError {
  override readonly name: string = 'OnnxRuntimeError';
}

export class UnknownDeviceError extends OnnxRuntimeError {
  override readonly name: string = 'UnknownDeviceError';
  constructor(readonly device: string) {
    super('UNKNOWN_DEVICE', `unknown device '${device}': valid devices are ${DEVICES.map((d) => `'${d}'`).join(', ')}`);
  }
}

/**
 * Execution providers per device. 'cuda' lists only CUDA: onnxruntime still places the few ops CUDA lacks on
 * its built-in CPU provider, but a missing CUDA provider fails session creation instead of silently running
 * the whole model on the CPU.
 */
export function executionProviders(device: string): string[] {
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'cuda':
      return ['cuda'];
    default:
      throw new UnknownDeviceError(device);
  }
}

function startWorker(): Worker {
  return startModuleWorker(import.meta.url, 'worker');
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type RequestBody = DistributiveOmit<Request, 'id'>;
type Pending = { resolve: (r: Reply) => void; reject: (e: Error) => void };

/** One worker thread and the sessions it hosts. */
class WorkerHost {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | null = null;
  readonly sessions = new Set<SessionImpl>();
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(readonly key: string) {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (r: Reply) => this.onReply(r));
    this.worker.on('error', (e) =>
      this.die(new OnnxRuntimeError('WORKER_CRASHED', `onnxruntime worker crashed: ${e.message}`, { cause: e })),
    );
    this.worker.on('exit', (code) =>
      this.die(new OnnxRuntimeError('WORKER_EXITED', `onnxruntime worker exited (code ${code})`)),
    );
  }

  get error(): Error | null {
    return this.dead;
  }

  private onReply(r: Reply): void {
    const p = this.pending.get(r.id);
    if (p === undefined) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker.unref();
    p.resolve(r);
  }

  private die(err: Error): void {
    if (this.dead !== null) return;
    this.dead = err;
    hosts.delete(this.key);
    for (const s of this.sessions) s.markDead(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  request(req: RequestBody, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.dead !== null) return Promise.reject(this.dead);
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const id = this.nextId++;
    // Keep the process alive only while a request is in flight, so an unreleased session never blocks exit.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...req, id } as Request, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(
          new OnnxRuntimeError('POST_FAILED', `cannot send ${req.kind} to the onnxruntime worker: ${String(e)}`, {
            cause: e,
          }),
        );
      }
    });
  }

  /** Stops the worker a little after its last session goes, so create/release cycles (tests) reuse it. */
  sessionGone(s: SessionImpl): void {
    this.sessions.delete(s);
    if (this.sessions.size > 0 || this.dead !== null) return;
    this.idleTimer = setTimeout(() => {
      if (this.sessions.size === 0) void this.terminate();
    }, 2000);
    this.idleTimer.unref();
  }

  async terminate(): Promise<void> {
    this.die(new OnnxRuntimeError('WORKER_STOPPED', 'onnxruntime worker was stopped'));
    await this.worker.terminate();
  }
}

const hosts = new Map<string, WorkerHost>();
const sessions = new Map<string, Promise<SessionImpl>>();
let nextSessionId = 1;
let isolatedCount = 0;

class SessionImpl implements Session {
  private refs = 1;
  private deadError: Error | null = null;
  private released = false;
  lastRunMs = 0;

  constructor(
    readonly host: WorkerHost,
    readonly id: number,
    readonly key: string,
    private readonly cacheKey: string,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  get closed(): boolean {
    return this.released || this.deadError !== null;
  }

  retain(): this {
    this.refs++;
    return this;
  }

  markDead(err: Error): void {
    this.deadError = err;
    if (sessions.get(this.cacheKey) !== undefined) sessions.delete(this.cacheKey);
  }

  async run(
    feeds: Record<string, TensorData>,
    fetch?: readonly string[],
    opts: RunOptions = {},
  ): Promise<Record<string, TensorData>> {
    if (this.released) throw new OnnxRuntimeError('SESSION_CLOSED', `session ${this.key.slice(0, 12)} was released`);
    if (this.deadError !== null) {
      throw new OnnxRuntimeError(
        'SESSION_CLOSED',
        `session ${this.key.slice(0, 12)} is unusable: ${this.deadError.message}`,
        {
          cause: this.deadError,
        },
      );
    }
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) {
        throw new OnnxRuntimeError(
          'BAD_FEED',
          `feed '${name}' is not an input of the model (inputs: ${this.inputNames.join(', ')})`,
        );
      }
    }
    for (const name of fetch ?? []) {
      if (!this.outputNames.includes(name)) {
        throw new OnnxRuntimeError(
          'BAD_FETCH',
          `'${name}' is not an output of the model (outputs: ${this.outputNames.join(', ')})`,
        );
      }
    }
    const transfer = opts.transferFeeds === true ? feedBuffers(feeds) : [];
    const r = await this.host.request(
      { kind: 'run', session: this.id, feeds, fetch: fetch === undefined ? null : [...fetch] },
      transfer,
    );
    if (!r.ok) throw new OnnxRuntimeError('RUN_FAILED', `onnxruntime run failed: ${r.message}`);
    if (r.kind !== 'ran') throw new OnnxRuntimeError('PROTOCOL', `unexpected worker reply '${r.kind}' to run`);
    this.lastRunMs = r.runMs;
    return r.outputs;
  }

  async release(): Promise<void> {
    if (this.released) return;
    if (--this.refs > 0) return;
    this.released = true;
    if (sessions.get(this.cacheKey) !== undefined) sessions.delete(this.cacheKey);
    if (this.deadError === null) {
      const r = await this.host.request({ kind: 'release', session: this.id });
      if (!r.ok) throw new OnnxRuntimeError('RELEASE_FAILED', `onnxruntime release failed: ${r.message}`);
    }
    this.host.sessionGone(this);
  }
}

/**
 * Training state held in the worker of a session (train/resident.ts): the trainable params, their accumulated
 * gradient and the optimiser. Runs feed only the batch; reads return copies.
 */
export interface ResidentTrainer {
  /** Runs the session with the resident params added to `feeds`; accumulates the gradients; returns `fetch`. */
  run(feeds: Record<string, TensorData>, fetch: readonly string[]): Promise<Record<string, TensorData>>;
  /** Ends the window: scale, global norm, clip and optimiser step (skipped when not finite). */
  step(req: ResidentStepRequest): Promise<ResidentStepResult>;
  /** Copies of the current params and optimiser state. */
  read(): Promise<{
    params: Map<string, Float32Array>;
    optimizerStep: number;
    optimizerState: Map<string, Float32Array>;
  }>;
  close(): Promise<void>;
}

let nextResidentId = 1;

/**
 * Moves trainable params into the worker that runs `session`. `params` are copied (the caller's arrays stay
 * valid and are not updated until read()); their order is the order gradients are added and normed in.
 */
export async function openResidentTrainer(
  session: Session,
  init: {
    params: readonly { name: string; grad: string; dims: readonly number[]; data: Float32Array }[];
    optimizer: OptimizerSpec;
    restore?: { step: number; state: ReadonlyMap<string, Float32Array> };
  },
): Promise<ResidentTrainer> {
  if (!(session instanceof SessionImpl) || session.closed) {
    throw new OnnxRuntimeError('SESSION_CLOSED', 'resident training state needs an open session of this runtime');
  }
  const { host } = session;
  const resident = nextResidentId++;
  type Ok = Extract<Reply, { ok: true }>;
  const expect = <K extends Ok['kind']>(r: Reply, kind: K, what: string): Extract<Ok, { kind: K }> => {
    if (!r.ok) throw new OnnxRuntimeError('RUN_FAILED', `onnxruntime worker: ${what} failed: ${r.message}`);
    if (r.kind !== kind) throw new OnnxRuntimeError('PROTOCOL', `unexpected worker reply '${r.kind}' to ${what}`);
    return r as Extract<Ok, { kind: K }>;
  };
  expect(
    await host.request({
      kind: 'resident-open',
      session: session.id,
      resident,
      params: init.params.map((p) => ({ name: p.name, grad: p.grad, dims: [...p.dims], data: p.data })),
      optimizer: init.optimizer,
      restore: init.restore === undefined ? null : { step: init.restore.step, state: [...init.restore.state] },
    }),
    'released',
    'opening resident training state',
  );
  return {
    async run(feeds, fetch) {
      const r = expect(
        await host.request({ kind: 'resident-run', resident, feeds, fetch: [...fetch] }),
        'ran',
        'training run',
      );
      session.lastRunMs = r.runMs;
      return r.outputs;
    },
    async step(req) {
      const r = expect(
        await host.request({ kind: 'resident-step', resident, ...req }),
        'resident-stepped',
        'optimizer step',
      );
      return { gradNorm: r.gradNorm, applied: r.applied };
    },
    async read() {
      const r = expect(await host.request({ kind: 'resident-read', resident }), 'resident-state', 'reading state');
      return {
        params: new Map(r.params),
        optimizerStep: r.optimizerStep,
        optimizerState: new Map(r.optimizerState),
      };
    },
    async close() {
      if (host.error !== null) return;
      expect(await host.request({ kind: 'resident-close', resident }), 'released', 'closing resident state');
    },
  };
}

function feedBuffers(feeds: Record<string, TensorData>): ArrayBuffer[] {
  const bufs = new Set<ArrayBuffer>();
  for (const t of Object.values(feeds)) if (t.data.buffer instanceof ArrayBuffer) bufs.add(t.data.buffer);
  return [...bufs];
}

/** Only whole ArrayBuffers can move between threads; a view into a shared or pooled buffer is copied. */
function owned(a: Uint8Array): Uint8Array {
  return a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

/**
 * Creates (or returns the cached) session for a graph. Sessions are cached per graph hash + device + threads
 * (+ serialisation options); each cache hit adds a holder that must call release().
 */
export async function createSession(graph: Graph, opts: SessionOptions = {}): Promise<Session> {
  const device = opts.device ?? 'cpu';
  const providers = executionProviders(device);
  const threads = opts.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) {
    throw new OnnxRuntimeError('BAD_THREADS', `threads must be a non-negative integer, got ${threads}`);
  }
  const hash = graphHash(graph);
  const prepack = opts.prepack ?? true;
  const cacheKey = `${hash}|${device}|${threads}|${JSON.stringify(opts.serialize ?? {})}|${opts.isolate === true ? 'iso' : ''}|${prepack ? '' : 'nopack'}`;
  if (opts.isolate !== true) {
    const hit = sessions.get(cacheKey);
    if (hit !== undefined) return (await hit).retain();
  }

  const hostKey = opts.isolate === true ? `${device}|${threads}|isolated-${++isolatedCount}` : `${device}|${threads}`;
  const make = async (): Promise<SessionImpl> => {
    const ser = serializeModel(graph, opts.serialize);
    const model = owned(ser.model);
    const externalData = ser.externalData.map((f) => ({ path: f.path, data: owned(f.data) }));
    let host = hosts.get(hostKey);
    if (host === undefined) {
      host = new WorkerHost(hostKey);
      hosts.set(hostKey, host);
    }
    const config: OrtSessionConfig = { executionProviders: providers, intraOpNumThreads: threads, prepack };
    const id = nextSessionId++;
    const transfer = [model.buffer as ArrayBuffer, ...externalData.map((f) => f.data.buffer as ArrayBuffer)];
    const r = await host.request({ kind: 'create', session: id, model, externalData, config }, transfer);
    if (!r.ok) {
      const code = device === 'cuda' ? 'DEVICE_UNAVAILABLE' : 'SESSION_CREATE_FAILED';
      const hint =
        device === 'cuda' ? ' (is the CUDA build of onnxruntime-node installed? ONNXRUNTIME_NODE_INSTALL=cuda12)' : '';
      throw new OnnxRuntimeError(
        code,
        `cannot create onnxruntime session for graph '${graph.name}' on ${device}${hint}: ${r.message}`,
      );
    }
    if (r.kind !== 'created') throw new OnnxRuntimeError('PROTOCOL', `unexpected worker reply '${r.kind}' to create`);
    const s = new SessionImpl(host, id, hash, cacheKey, r.inputNames, r.outputNames);
    host.sessions.add(s);
    return s;
  };
  const p = make();
  if (opts.isolate !== true) {
    sessions.set(cacheKey, p);
    p.catch(() => sessions.delete(cacheKey));
  }
  return p;
}

/** Runs a graph once: create (or reuse) a session, run, release. Convenient for tests and one-off evaluations. */
export async function runGraph(
  graph: Graph,
  feeds: Record<string, TensorData>,
  fetch?: readonly string[],
  opts?: SessionOptions,
): Promise<Record<string, TensorData>> {
  const s = await createSession(graph, opts);
  try {
    return await s.run(feeds, fetch);
  } finally {
    await s.release();
  }
}

/** Stops every worker (and so every session). For process shutdown and test teardown. */
export async function releaseAllSessions(): Promise<void> {
  sessions.clear();
  await Promise.all([...hosts.values()].map((h) => h.terminate()));
}
