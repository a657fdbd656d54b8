import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../onnx/ir.js';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from './convert.js';
import { SafetensorsError } from './errors.js';
import { loadShardedSafetensors } from './safetensors-index.js';
import { loadSafetensors, parseSafetensors, readSafetensorsHeader } from './safetensors-read.js';
import { encodeSafetensorsHeader, serializeSafetensors, writeSafetensors } from './safetensors-write.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tm-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sample = (): Record<string, TensorData> => ({
  'b.f32': { dtype: 'float32', dims: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]) },
  'a.i64': { dtype: 'int64', dims: [3], data: BigInt64Array.from([1n, -(2n ** 62n), 5n]) },
  'c.bf16': { dtype: 'bfloat16', dims: [2], data: Uint16Array.from([floatToBf16(1.5), floatToBf16(-3)]) },
  'd.f16': { dtype: 'float16', dims: [1, 2], data: Uint16Array.from([floatToHalf(0.1), floatToHalf(65504)]) },
  'e.bool': { dtype: 'bool', dims: [3], data: Uint8Array.from([1, 0, 1]) },
  'f.i8': { dtype: 'int8', dims: [2], data: Int8Array.from([-128, 127]) },
  'g.u8': { dtype: 'uint8', dims: [0], data: new Uint8Array(0) },
  'h.i32': { dtype: 'int32', dims: [], data: Int32Array.from([-42]) },
  'i.f64': { dtype: 'float64', dims: [1], data: Float64Array.from([Math.PI]) },
});

describe('safetensors writer', () => {
  it('is deterministic, sorted by name, 8-byte aligned with space padding', () => {
    const t = sample();
    const a = serializeSafetensors(t, { format: 'pt', z: '1' });
    const reversed = Object.fromEntries(Object.entries(t).reverse());
    const b = serializeSafetensors(reversed, { z: '1', format: 'pt' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = new TextDecoder().decode(a.subarray(8, 8 + n));
    expect(header.trimEnd().endsWith('}')).toBe(true);
    expect(header.length - header.trimEnd().length).toBeLessThan(8);
    const names = Object.keys(JSON.parse(header));
    expect(names).toEqual([
      '__metadata__',
      'a.i64',
      'b.f32',
      'c.bf16',
      'd.f16',
      'e.bool',
      'f.i8',
      'g.u8',
      'h.i32',
      'i.f64',
    ]);
  });

  it('round-trips every dtype through memory and through a file (keep mode)', async () => {
    const t = sample();
    const bytes = serializeSafetensors(t, { format: 'pt' });
    const parsed = parseSafetensors(bytes, { dtype: 'keep' });
    expect(parsed.metadata).toEqual({ format: 'pt' });
    const path = join(dir, 'rt.safetensors');
    await writeSafetensors(path, t, { format: 'pt' });
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(bytes))).toBe(true);
    const fromFile = await loadSafetensors(path, { dtype: 'keep' });
    for (const got of [parsed.tensors, fromFile]) {
      expect([...got.keys()].sort()).toEqual(Object.keys(t).sort());
      for (const [name, want] of Object.entries(t)) {
        const g = got.get(name) as TensorData;
        expect(g.dtype, name).toBe(want.dtype);
        expect(g.dims, name).toEqual(want.dims);
        expect(Array.from(g.data as ArrayLike<number>), name).toEqual(Array.from(want.data as ArrayLike<number>));
      }
    }
  });

  it('converts floating-point tensors to float32 by default and leaves integers alone', () => {
    const got = parseSafetensors(serializeSafetensors(sample())).tensors;
    expect(got.get('c.bf16')).toEqual({ dtype: 'float32', dims: [2], data: Float32Array.from([1.5, -3]) });
    expect(got.get('d.f16')?.dtype).toBe('float32');
    expect(Array.from(got.get('d.f16')?.data as Float32Array)).toEqual([halfToFloat(floatToHalf(0.1)), 65504]);
    expect(got.get('i.f64')?.data).toEqual(Float32Array.from([Math.PI]));
    expect(got.get('a.i64')?.dtype).toBe('int64');
    const half = parseSafetensors(serializeSafetensors(sample()), { dtype: 'float16' }).tensors;
    expect(half.get('b.f32')?.dtype).toBe('float16');
    expect(Array.from(half.get('c.bf16')?.data as Uint16Array)).toEqual([floatToHalf(1.5), floatToHalf(-3)]);
  });

  it('reads tensors whose offsets are not element-aligned', () => {
    // A 1-byte tensor first pushes the float32 tensor to an odd offset.
    const bytes = serializeSafetensors({
      a: { dtype: 'uint8', dims: [1], data: Uint8Array.from([9]) },
      b: { dtype: 'float32', dims: [2], data: Float32Array.from([1.25, -2]) },
    });
    expect(parseSafetensors(bytes).tensors.get('b')?.data).toEqual(Float32Array.from([1.25, -2]));
  });

  it('rejects a tensor whose data does not fill its dims', () => {
    expect(() => serializeSafetensors({ x: { dtype: 'float32', dims: [3], data: new Float32Array(2) } })).toThrow(
      SafetensorsError,
    );
  });
});

describe('float conversions', () => {
  it('float16 round-trips every finite bit pattern and rounds to nearest even', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = halfToFloat(h);
      if (!Number.isNaN(x) && floatToHalf(x) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(floatToHalf(2 ** -25)).toBe(0); // half of the smallest subnormal ties to zero
    expect(floatToHalf(1.5 * 2 ** -25)).toBe(1);
    expect(floatToHalf(65520)).toBe(0x7c00); // rounds past the max to infinity
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });

  it('bfloat16 rounds to nearest even', () => {
    expect(floatToBf16(1)).toBe(0x3f80);
    expect(bf16ToFloat(floatToBf16(1 + 2 ** -8))).toBe(1); // tie -> even
    expect(bf16ToFloat(floatToBf16(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
    expect(Number.isNaN(bf16ToFloat(floatToBf16(NaN)))).toBe(true);
  });
});

describe('safetensors reader errors', () => {
  const header = (json: string, data = 0) => {
    const h = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + h.length + data);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    return out;
  };
  const code = (buf: Uint8Array) => {
    try {
      parseSafetensors(buf, { file: 'x.safetensors' });
    } catch (e) {
      expect(e).toBeInstanceOf(SafetensorsError);
      expect((e as Error).message).toContain('x.safetensors');
      return (e as SafetensorsError).code;
    }
    return 'ok';
  };
  it('gives each malformation its own code', () => {
    expect(code(new Uint8Array(3))).toBe('truncated');
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(code(huge)).toBe('header-too-large');
    expect(code(header('{}').subarray(0, 9))).toBe('header-out-of-bounds');
    expect(code(header('{"a":'))).toBe('header-json');
    expect(code(header('[1,2]'))).toBe('header-not-object');
    expect(code(header('{"a": 3}'))).toBe('bad-entry');
    expect(code(header('{"a": {"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}', 1))).toBe('unknown-dtype');
    expect(code(header('{"a": {"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', 1))).toBe('unsupported-dtype');
    expect(code(header('{"a": {"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1))).toBe('bad-shape');
    expect(code(header('{"a": {"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', 1))).toBe('bad-shape');
    expect(code(header('{"a": {"dtype":"U8","shape":[1],"data_offsets":[0,2]}}', 1))).toBe('offsets-out-of-bounds');
    expect(code(header('{"a": {"dtype":"U8","shape":[1],"data_offsets":[1,0]}}', 1))).toBe('bad-offsets');
    expect(code(header('{"a": {"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4))).toBe('size-mismatch');
    expect(code(header('{"a": {"dtype":"F32","shape":[1073741824,1073741824,1024],"data_offsets":[0,4]}}', 4))).toBe(
      'size-mismatch',
    );
    expect(
      code(
        header(
          '{"a": {"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b": {"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
          3,
        ),
      ),
    ).toBe('overlapping-offsets');
    expect(code(header('{"a": {"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2))).toBe('gap-in-offsets');
    expect(code(header('{"a": {"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 2))).toBe('trailing-bytes');
    expect(code(header('{"__metadata__": {"a": 1}}'))).toBe('bad-metadata');
    expect(code(header('{"a": {"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1))).toBe('ok');
  });

  it('names the missing file', async () => {
    await expect(readSafetensorsHeader(join(dir, 'nope.safetensors'))).rejects.toMatchObject({ code: 'not-found' });
  });

  it('rejects a truncated file from its header, before reading data', async () => {
    const path = join(dir, 'trunc.safetensors');
    const full = serializeSafetensors(sample());
    await writeFile(path, full.subarray(0, full.length - 4));
    await expect(loadSafetensors(path)).rejects.toMatchObject({ code: 'offsets-out-of-bounds' });
  });
});

describe('sharded checkpoints', () => {
  it('loads through model.safetensors.index.json and validates the map', async () => {
    const shard = join(dir, 'shard');
    await (await import('node:fs/promises')).mkdir(shard, { recursive: true });
    const t = sample();
    const names = Object.keys(t);
    const first = Object.fromEntries(names.slice(0, 4).map((n) => [n, t[n] as TensorData]));
    const second = Object.fromEntries(names.slice(4).map((n) => [n, t[n] as TensorData]));
    await writeSafetensors(join(shard, 'model-00001-of-00002.safetensors'), first);
    await writeSafetensors(join(shard, 'model-00002-of-00002.safetensors'), second);
    const weightMap = Object.fromEntries(
      names.map((n, i) => [n, i < 4 ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']),
    );
    const index = join(shard, 'model.safetensors.index.json');
    await writeFile(index, JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
    const got = await loadShardedSafetensors(index, { dtype: 'keep' });
    expect([...got.keys()].sort()).toEqual(names.sort());

    await writeFile(index, JSON.stringify({ weight_map: { ...weightMap, extra: 'model-00003-of-00002.safetensors' } }));
    await expect(loadShardedSafetensors(index)).rejects.toMatchObject({ code: 'missing-shard' });
    await writeFile(
      index,
      JSON.stringify({ weight_map: { ...weightMap, 'a.i64': 'model-00002-of-00002.safetensors' } }),
    );
    await expect(loadShardedSafetensors(index)).rejects.toMatchObject({ code: 'index-mismatch' });
    await writeFile(index, JSON.stringify({ weight_map: { ...weightMap, ghost: 'model-00001-of-00002.safetensors' } }));
    await expect(loadShardedSafetensors(index)).rejects.toMatchObject({ code: 'index-mismatch' });
    await writeFile(index, JSON.stringify({ weight_map: { x: '../elsewhere.safetensors' } }));
    await expect(loadShardedSafetensors(index)).rejects.toMatchObject({ code: 'index-weight-map' });
    // The same tensor in two shard files, passed directly.
    await expect(
      loadSafetensors([
        join(shard, 'model-00001-of-00002.safetensors'),
        join(shard, 'model-00001-of-00002.safetensors'),
      ]),
    ).rejects.toMatchObject({ code: 'duplicate-tensor' });
  });
});

describe('header encoding', () => {
  it('matches what the reader expects for an empty file', () => {
    const { bytes, dataLength } = encodeSafetensorsHeader([]);
    expect(dataLength).toBe(0);
    expect(parseSafetensors(bytes).tensors.size).toBe(0);
  });
});
