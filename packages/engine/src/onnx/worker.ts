// The worker thread that owns onnxruntime sessions. onnxruntime-node's run blocks the thread it is called on,
// so every session lives here and the main thread only exchanges messages. Together with runtime.ts this is
// the one place that imports onnxruntime-node.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { ResidentTrainingState } from '../train/resident.js';
import type { DType, TensorArray, TensorData } from './ir.js';
import type { Reply, Request } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('onnx/worker.ts must run as a worker thread');

const sessions = new Map<number, ort.InferenceSession>();

/**
 * A full garbage collection of this thread's heap. After a session is created, the serialised model it was made
 * from (≈ the weights' size: 98 MB for the bench model) is garbage, but an idle worker — blocked in onnxruntime's
 * runs from then on — may keep it until much later, so that it counts in the process's peak memory (measured: the
 * bench's LoRA step peaked ≈ 90 MB higher). Node 20 has no ArrayBuffer.prototype.transfer to free it at once.
 */
let collect: (() => void) | undefined;
function collectGarbage(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}
interface Resident {
  session: number;
  grads: string[];
  /** The params' shapes; their arrays are the state's (a two-thread step may replace them, so feeds are made per run). */
  dims: Map<string, number[]>;
  state: ResidentTrainingState;
}
const residents = new Map<number, Resident>();

function residentOf(id: number): Resident & { run: ort.InferenceSession } {
  const r = residents.get(id);
  const run = r === undefined ? undefined : sessions.get(r.session);
  if (r === undefined || run === undefined) throw new Error(`resident training state ${id} does not exist`);
  return { ...r, run };
}

/** Fresh copies, owned by the reply (the originals stay resident). */
function copies(entries: Iterable<[string, Float32Array]>): [string, Float32Array][] {
  return [...entries].map(([k, a]) => [k, a.slice()]);
}

function toOrt(name: string, t: TensorData): ort.Tensor {
  if (t.dtype === 'bfloat16') throw new Error(`feed '${name}': bfloat16 tensors cannot be fed to onnxruntime-node`);
  return new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, [...t.dims]);
}

const DTYPES: Partial<Record<string, DType>> = {
  float32: 'float32',
  float16: 'float16',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

function fromOrt(name: string, t: ort.Tensor): TensorData {
  const dtype = DTYPES[t.type];
  if (dtype === undefined) throw new Error(`output '${name}' has type ${t.type}, which the engine does not handle`);
  return { dtype, dims: [...t.dims], data: t.data as TensorArray };
}

/** Buffers we may hand over: whole, non-shared ArrayBuffers (outputs are fresh copies made by onnxruntime). */
function transferables(outputs: Record<string, TensorData>): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const t of Object.values(outputs)) {
    const buf = t.data.buffer;
    if (buf instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buf.byteLength) seen.add(buf);
  }
  return [...seen];
}

async function handle(req: Request): Promise<{ reply: Reply; transfer: ArrayBuffer[] }> {
  switch (req.kind) {
    case 'create': {
      const opts: ort.InferenceSession.SessionOptions = {
        executionProviders: req.config.executionProviders,
        intraOpNumThreads: req.config.intraOpNumThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableMemPattern: false,
        enableCpuMemArena: true,
        // Two sessions alternating (train/eval) spin-wait against each other otherwise (ENGINE-NOTES).
        extra: {
          session: {
            intra_op: { allow_spinning: '0' },
            inter_op: { allow_spinning: '0' },
            ...(req.config.prepack ? {} : { disable_prepacking: '1' }),
          },
        },
      };
      if (req.externalData.length > 0) opts.externalData = req.externalData;
      const s = await ort.InferenceSession.create(req.model, opts);
      sessions.set(req.session, s);
      return {
        reply: {
          id: req.id,
          ok: true,
          kind: 'created',
          inputNames: [...s.inputNames],
          outputNames: [...s.outputNames],
        },
        transfer: [],
      };
    }
    case 'run': {
      const s = sessions.get(req.session);
      if (s === undefined) throw new Error(`session ${req.session} does not exist in the worker`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [k, t] of Object.entries(req.feeds)) feeds[k] = toOrt(k, t);
      const t0 = performance.now();
      const res = req.fetch === null ? await s.run(feeds) : await s.run(feeds, req.fetch);
      const runMs = performance.now() - t0;
      const outputs: Record<string, TensorData> = {};
      for (const [k, t] of Object.entries(res)) {
        outputs[k] = fromOrt(k, t);
        t.dispose();
      }
      return { reply: { id: req.id, ok: true, kind: 'ran', outputs, runMs }, transfer: transferables(outputs) };
    }
    case 'resident-open': {
      if (!sessions.has(req.session)) throw new Error(`session ${req.session} does not exist in the worker`);
      const params = new Map(req.params.map((p) => [p.name, p.data]));
      const restore = req.restore === null ? undefined : { step: req.restore.step, state: new Map(req.restore.state) };
      const state = new ResidentTrainingState(params, req.optimizer, restore);
      const dims = new Map(req.params.map((p) => [p.name, [...p.dims]]));
      residents.set(req.resident, { session: req.session, grads: req.params.map((p) => p.grad), dims, state });
      return { reply: { id: req.id, ok: true, kind: 'released' }, transfer: [] };
    }
    case 'resident-run': {
      const { run, grads, state, dims } = residentOf(req.resident);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [k, a] of state.params) feeds[k] = new ort.Tensor('float32', a, dims.get(k));
      for (const [k, t] of Object.entries(req.feeds)) feeds[k] = toOrt(k, t);
      const t0 = performance.now();
      const res = await run.run(feeds, [...req.fetch, ...grads]);
      const runMs = performance.now() - t0;
      const outputs: Record<string, TensorData> = {};
      for (const k of req.fetch) outputs[k] = fromOrt(k, res[k] as ort.Tensor);
      const g: Float32Array[] = [];
      for (const k of grads) {
        const t = res[k];
        if (t === undefined || !(t.data instanceof Float32Array))
          throw new Error(`gradient '${k}' is not a float32 output`);
        g.push(t.data);
      }
      for (const t of Object.values(res)) t.dispose();
      state.accumulate(g);
      return { reply: { id: req.id, ok: true, kind: 'ran', outputs, runMs }, transfer: transferables(outputs) };
    }
    case 'resident-step': {
      const { state } = residentOf(req.resident);
      const r = await state.step(req);
      return { reply: { id: req.id, ok: true, kind: 'resident-stepped', ...r }, transfer: [] };
    }
    case 'resident-read': {
      const { state } = residentOf(req.resident);
      const params = copies(state.params);
      const optimizerState = copies(await state.optimizerState());
      const transfer = [...params, ...optimizerState].map(([, a]) => a.buffer as ArrayBuffer);
      return {
        reply: { id: req.id, ok: true, kind: 'resident-state', params, optimizerStep: state.stepCount, optimizerState },
        transfer,
      };
    }
    case 'resident-close': {
      await residents.get(req.resident)?.state.close();
      residents.delete(req.resident);
      return { reply: { id: req.id, ok: true, kind: 'released' }, transfer: [] };
    }
    case 'release': {
      const s = sessions.get(req.session);
      for (const [k, r] of residents) {
        if (r.session !== req.session) continue;
        await r.state.close();
        residents.delete(k);
      }
      sessions.delete(req.session);
      if (s !== undefined) await s.release();
      return { reply: { id: req.id, ok: true, kind: 'released' }, transfer: [] };
    }
  }
}

// Requests are handled one at a time: a run occupies this thread anyway, and ordering keeps release after run.
let queue: Promise<void> = Promise.resolve();
port.on('message', (req: Request) => {
  queue = queue.then(async () => {
    try {
      const { reply, transfer } = await handle(req);
      port.postMessage(reply, transfer);
      // Once this handler returns nothing refers to the model bytes; collect them before the first run.
      if (req.kind === 'create') setImmediate(collectGarbage);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      port.postMessage({ id: req.id, ok: false, message } satisfies Reply);
    }
  });
});
