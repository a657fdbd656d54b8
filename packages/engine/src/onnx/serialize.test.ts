import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { attr, type Graph, IR_VERSION } from './ir.js';
import * as op from './ops.js';
import { graphHash, SerializeError, saveModel, serializeModel } from './serialize.js';

const { onnx } = onnxProto;

function model(seed = 0): Graph {
  const b = new GraphBuilder('m');
  const x = b.input('x', 'float32', ['batch', 'seq', 16]);
  const w = b.initializer('w', {
    dtype: 'float32',
    dims: [16, 16],
    data: Float32Array.from({ length: 256 }, (_, i) => i + seed),
  });
  const big = b.initializer('big', { dtype: 'float32', dims: [512, 16], data: new Float32Array(512 * 16).fill(0.5) });
  const h = b.initializer('h', {
    dtype: 'float16',
    dims: [4],
    data: new Uint16Array([0x3c00, 0x4000, 0x4200, 0x4400]),
  });
  void h;
  const y = op.fusedMatMul(b, x, w, { transB: true, alpha: 0.25 });
  b.output(op.gemm(b, op.reshape(b, y, [-1, 16]), big, null, { transB: true }), 'y');
  return b.build();
}

describe('serializeModel', () => {
  it('is byte-identical for the same graph and writes sorted attributes, IR version and opsets', () => {
    const a = serializeModel(model()).model;
    const b = serializeModel(model()).model;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(serializeModel(model(1)).model).equals(Buffer.from(a))).toBe(false);

    const m = onnx.ModelProto.decode(a);
    expect(Number(m.irVersion)).toBe(IR_VERSION);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', 21],
      ['com.microsoft', 1],
    ]);
    const fused = (m.graph?.node ?? []).find((n) => n.opType === 'FusedMatMul');
    expect(fused?.domain).toBe('com.microsoft');
    expect((fused?.attribute ?? []).map((x) => x.name)).toEqual(['alpha', 'transA', 'transB']);
    const input = (m.graph?.input ?? [])[0];
    expect(input?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue))).toEqual([
      'batch',
      'seq',
      16,
    ]);
    const out = (m.graph?.output ?? [])[0];
    expect(out?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch*seq', 512]);
    const h = (m.graph?.initializer ?? []).find((t) => t.name === 'h');
    expect(h?.dataType).toBe(10);
    expect(Array.from(h?.rawData ?? [])).toEqual([0x00, 0x3c, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44]);
  });

  it('sorts attributes whatever order the node was given them in', () => {
    const mk = (order: string[]): Uint8Array => {
      const b = new GraphBuilder('s');
      const x = b.input('x', 'float32', [2, 2]);
      const attrs = Object.fromEntries(order.map((k) => [k, attr.int(k.length)]));
      b.output(b.op1('Custom', [x], attrs, { domain: 'com.microsoft' }));
      return serializeModel(b.build()).model;
    };
    expect(Buffer.from(mk(['b', 'aa', 'ccc'])).equals(Buffer.from(mk(['ccc', 'b', 'aa'])))).toBe(true);
  });

  it('moves initialisers to aligned external data with location/offset/length', () => {
    const g = model();
    const { model: bytes, externalData } = serializeModel(g, {
      externalDataThresholdBytes: 0,
      externalDataFile: 'w.bin',
      externalMinBytes: 64,
    });
    expect(externalData.map((f) => f.path)).toEqual(['w.bin']);
    const m = onnx.ModelProto.decode(bytes);
    const file = externalData[0]?.data as Uint8Array;
    for (const init of g.initializers) {
      const t = (m.graph?.initializer ?? []).find((x) => x.name === init.name);
      const src = new Uint8Array(init.tensor.data.buffer, init.tensor.data.byteOffset, init.tensor.data.byteLength);
      if (src.byteLength < 64) {
        expect(t?.dataLocation ?? 0).toBe(0);
        expect(Buffer.from(t?.rawData ?? []).equals(Buffer.from(src))).toBe(true);
        continue;
      }
      expect(t?.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
      const kv = Object.fromEntries((t?.externalData ?? []).map((e) => [e.key, e.value]));
      expect(kv.location).toBe('w.bin');
      const offset = Number(kv.offset);
      expect(offset % 16).toBe(0);
      expect(Number(kv.length)).toBe(src.byteLength);
      expect(Buffer.from(file.subarray(offset, offset + src.byteLength)).equals(Buffer.from(src))).toBe(true);
    }
    // Deterministic in external mode too.
    const again = serializeModel(g, { externalDataThresholdBytes: 0, externalDataFile: 'w.bin', externalMinBytes: 64 });
    expect(Buffer.from(again.model).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(again.externalData[0]?.data ?? []).equals(Buffer.from(file))).toBe(true);
  });

  it('splits external data into several files when asked and saves them beside the model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tunemesh-ser-'));
    try {
      const paths = await saveModel(model(), join(dir, 'model.onnx'), {
        externalDataThresholdBytes: 0,
        externalMaxFileBytes: 4096,
      });
      expect(paths.map((p) => p.slice(dir.length + 1))).toEqual(['model.onnx', 'weights.bin', 'weights.1.bin']);
      expect(readFileSync(join(dir, 'weights.1.bin')).byteLength).toBe(512 * 16 * 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an external file name with a path in it', () => {
    expect(() => serializeModel(model(), { externalDataThresholdBytes: 0, externalDataFile: '../x.bin' })).toThrow(
      SerializeError,
    );
  });
});

describe('graphHash', () => {
  it('is stable, and changes with structure and with tensor bytes', () => {
    expect(graphHash(model())).toBe(graphHash(model()));
    expect(graphHash(model(1))).not.toBe(graphHash(model()));
    const tiny = (f: 'relu' | 'sigmoid'): Graph => {
      const b = new GraphBuilder('m');
      const x = b.input('x', 'float32', ['batch', 'seq', 16]);
      b.output(f === 'relu' ? op.relu(b, x) : op.sigmoid(b, x), 'y');
      return b.build();
    };
    expect(graphHash(tiny('relu'))).toBe(graphHash(tiny('relu')));
    expect(graphHash(tiny('relu'))).not.toBe(graphHash(tiny('sigmoid')));
  });
});
