// The global norm's scale-and-sum pass (clip.ts scaleAndSumSquares) as a WebAssembly SIMD kernel
// (sum-squares.wat): clip.ts's four partial sums in the same order, as two f64x2 accumulators, so the result and
// the stored gradient are clip.ts's JS loop's to the bit (clip.test.ts). The gradient is staged through the
// kernel's memory in chunks, as the AdamW update stages, and copied back scaled. ≈ 15% faster than the JS loop
// over the bench model's gradients (bench/README.md, train); the pass reads 50 MB a thread, so the copies cost
// much of what the vector arithmetic saves.

import { compileKernel, type WasmApi, wasmApi } from './wasm.js';
import { SUM_SQUARES_WASM } from './wasm-kernels.js';

type ScaleSumSquares = (x: number, nBytes: number, acc: number, factor: number) => void;

/** Elements staged per kernel call (64 KiB, which stays in cache). A multiple of 4. */
const CHUNK = 16384;
/** Byte offset of the four partial sums, after the staging area. */
const ACC = CHUNK * 4;

/** g[i] ← fround(g[i] · factor) for every element; returns Σ of their squares (clip.ts's order). */
export type ScaleAndSumSquares = (g: Float32Array, factor: number) => number;

let shared: ScaleAndSumSquares | null | undefined;

/** This thread's kernel, or null where the runtime has no WebAssembly SIMD. */
export function simdScaleAndSumSquares(): ScaleAndSumSquares | null {
  if (shared === undefined) shared = create();
  return shared;
}

function create(): ScaleAndSumSquares | null {
  const module = compileKernel(SUM_SQUARES_WASM);
  if (module === null) return null;
  const api = wasmApi as WasmApi;
  let memory: { readonly buffer: ArrayBuffer };
  try {
    memory = new api.Memory({ initial: 2 });
  } catch {
    return null;
  }
  const kernel = new api.Instance(module, { env: { mem: memory } }).exports.scale_sum_squares as ScaleSumSquares;
  // The memory never grows, so these views stay valid.
  const f32 = new Float32Array(memory.buffer, 0, CHUNK);
  const acc = new Float64Array(memory.buffer, ACC, 4);

  return (g, factor) => {
    const n4 = g.length - (g.length % 4);
    acc.fill(0);
    for (let start = 0; start < n4; start += CHUNK) {
      const end = Math.min(start + CHUNK, n4);
      f32.set(g.subarray(start, end));
      kernel(0, (end - start) * 4, ACC, factor);
      g.set(f32.subarray(0, end - start), start);
    }
    // The tail of n mod 4 elements into the first sum, then the four combined: clip.ts's order.
    let s0 = acc[0] as number;
    for (let i = n4; i < g.length; i++) {
      const x = Math.fround((g[i] as number) * factor);
      g[i] = x;
      s0 += x * x;
    }
    return s0 + (acc[1] as number) + ((acc[2] as number) + (acc[3] as number));
  };
}
