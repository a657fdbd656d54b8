import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import type { TensorData } from './ir.js';
import * as op from './ops.js';
import { createSession, OnnxRuntimeError, releaseAllSessions, runGraph, UnknownDeviceError } from './runtime.js';

function f32(dims: number[], fill: (i: number) => number): TensorData {
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, (_, i) => fill(i)) };
}

function addGraph(name = 'add') {
  const b = new GraphBuilder(name);
  const x = b.input('x', 'float32', ['n']);
  b.output(op.add(b, x, 1), 'y');
  return b.build();
}

afterAll(async () => {
  await releaseAllSessions();
});

describe('runtime', () => {
  it('runs a graph in a worker and returns typed outputs', async () => {
    const out = await runGraph(addGraph(), { x: f32([3], (i) => i) });
    expect(out.y?.dtype).toBe('float32');
    expect(out.y?.dims).toEqual([3]);
    expect(Array.from(out.y?.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('returns the cached session for the same graph and options', async () => {
    const g = addGraph('cached');
    const s1 = await createSession(g);
    const s2 = await createSession(addGraph('cached'));
    expect(s2).toBe(s1);
    const s3 = await createSession(g, { threads: 1 });
    expect(s3).not.toBe(s1);
    await s2.release();
    expect(s1.closed).toBe(false);
    await s1.release();
    expect(s1.closed).toBe(true);
    await expect(s1.run({ x: f32([1], () => 0) })).rejects.toThrow(/released/);
    await s3.release();
  });

  it('runs constant weights unpacked (prepack: false) to the same result, as its own session', async () => {
    const b = new GraphBuilder('unpacked');
    const x = b.input('x', 'float32', ['n', 64]);
    const w = b.constant(
      f32([48, 64], (i) => ((i * 37) % 11) / 7 - 0.7),
      'w',
    );
    b.output(op.fusedMatMul(b, x, w, { transB: true }), 'y');
    const g = b.build();
    const feeds = { x: f32([5, 64], (i) => ((i * 13) % 17) / 9 - 0.9) };
    const packed = await createSession(g);
    const unpacked = await createSession(g, { prepack: false });
    expect(unpacked).not.toBe(packed);
    const a = (await packed.run(feeds)).y?.data as Float32Array;
    const c = (await unpacked.run(feeds)).y?.data as Float32Array;
    expect(c.length).toBe(5 * 48);
    for (let i = 0; i < a.length; i++) expect(c[i]).toBeCloseTo(a[i] as number, 5);
    await packed.release();
    await unpacked.release();
  });

  it('rejects an unknown device with the valid ones', async () => {
    const err = await createSession(addGraph(), { device: 'tpu' as 'cpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownDeviceError);
    expect((err as Error).message).toMatch(/'cpu', 'cuda'/);
  });

  it('turns onnxruntime errors into typed errors', async () => {
    const s = await createSession(addGraph('err'));
    const err = await s.run({ x: { dtype: 'int64', dims: [1], data: new BigInt64Array(1) } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxRuntimeError);
    expect((err as OnnxRuntimeError).code).toBe('RUN_FAILED');
    expect((err as Error).message).toMatch(/type|tensor/i);
    // The session survives a failed run.
    const ok = await s.run({ x: f32([2], () => 1) });
    expect(Array.from(ok.y?.data as Float32Array)).toEqual([2, 2]);
    await s.release();
  });
});

describe('runtime: off-thread runs, external data, devices', () => {
  it('keeps the event loop responsive during a long run', async () => {
    const n = 1024;
    const b = new GraphBuilder('big-matmul');
    const x = b.input('x', 'float32', [n, n]);
    let h = x;
    for (let i = 0; i < 6; i++) h = op.matmul(b, h, x);
    b.output(h, 'y');
    const s = await createSession(b.build(), { threads: 1 });
    const feed = f32([n, n], (i) => ((i % 7) - 3) / (n * 4));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    await s.run({ x: feed });
    const wall = performance.now() - t0;
    clearInterval(timer);
    // 6 GEMMs of 1024³ take well over 50 ms on one thread; a blocked loop would tick at most once.
    expect(wall).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThan(wall / 5 / 4);
    await s.release();
  });

  it('loads weights from external data and gives the same outputs', async () => {
    const b = new GraphBuilder('ext');
    const x = b.input('x', 'float32', ['n', 64]);
    const w = b.initializer(
      'w',
      f32([64, 32], (i) => Math.sin(i)),
    );
    const w2 = b.initializer('w2', {
      dtype: 'float16',
      dims: [32, 16],
      data: Uint16Array.from({ length: 512 }, (_, i) => 0x3c00 + (i % 64)),
    });
    const bias = b.initializer(
      'bias',
      f32([32], (i) => i / 10),
    );
    const hdn = op.add(b, op.matmul(b, x, w), bias);
    b.output(op.matmul(b, op.cast(b, hdn, 'float16'), w2), 'y');
    const g = b.build();
    const feed = { x: f32([3, 64], (i) => Math.cos(i)) };
    const inline = await runGraph(g, feed);
    const ext = await runGraph(g, feed, undefined, {
      serialize: { externalDataThresholdBytes: 0, externalMinBytes: 100 },
    });
    expect(ext.y?.dtype).toBe('float16');
    expect(Array.from(ext.y?.data as Uint16Array)).toEqual(Array.from(inline.y?.data as Uint16Array));
  });

  it('fails clearly when the CUDA provider is missing, and never falls back silently', async () => {
    const err = await createSession(addGraph('cuda'), { device: 'cuda' }).then(
      async (s) => {
        // A CUDA-enabled install: the session must run.
        const out = await s.run({ x: f32([1], () => 1) });
        await s.release();
        return out;
      },
      (e: unknown) => e,
    );
    if (err instanceof Error) {
      expect(err).toBeInstanceOf(OnnxRuntimeError);
      expect((err as OnnxRuntimeError).code).toBe('DEVICE_UNAVAILABLE');
      expect(err.message).toMatch(/cuda/i);
    } else {
      expect(Array.from((err as Record<string, TensorData>).y?.data as Float32Array)).toEqual([2]);
    }
  });

  it('rejects runs on a session whose worker was stopped', async () => {
    const s = await createSession(addGraph('stopped'));
    await releaseAllSessions();
    await expect(s.run({ x: f32([1], () => 0) })).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
  });
});
