// AdamW's per-element update as a WebAssembly SIMD kernel (adamw.wat): four elements at a time in f32x4 lanes,
// the float32 operations of adamw.ts's formula in its order, so the stored values are the JS loop's to the bit
// (adamw-simd.test.ts and optim.test.ts compare the two on every code path). Its cost is one square root and two
// divisions per element; f32x4 does each for four elements at once (f64x2, the double-precision kernel it
// replaced, did two): ≈ 47 → ≈ 27 ms a step over the bench model's 13.2 M elements a thread (bench/README.md,
// train).
//
// The moments live in the kernel's own WebAssembly memory (they never leave the optimiser, and state() hands out
// views of them); each step copies a chunk of the params and gradients into a small staging area, runs the
// kernel over it, and copies the params back: 12 bytes an element of copying against 28 of the update itself.
//
// The kernel's source is adamw.wat (WebAssembly text); its bytes come from wasm-kernels.ts, which
// scripts/wasm-kernels.ts generates from it with wabt (wasm-kernels.test.ts checks the two agree).

import { compileKernel, type WasmApi, wasmApi } from './wasm.js';
import { ADAMW_WASM } from './wasm-kernels.js';

/** The kernel (adamw.wat): one step over nBytes / 4 elements (a multiple of 4) at byte offsets p, g, m, v. */
type Kernel = (
  p: number,
  g: number,
  m: number,
  v: number,
  nBytes: number,
  gradScale: number,
  decay: number,
  lerpSmall: number,
  lerpCoeff: number,
  beta2: number,
  c2: number,
  bc2Sqrt: number,
  eps: number,
  negStepSize: number,
) => void;

const PAGE = 65536;
/** Elements staged per kernel call: 2 × 64 KiB of params and gradients, which stay in cache. */
const CHUNK = 16384;
/** One memory holds at most this many bytes of moments (and a tensor that alone needs more uses the JS loop). */
const MAX_MEMORY_BYTES = 2 ** 31;

/** One step's scalars for one tensor, each already a float32 value (adamw.ts says where each comes from). */
export interface AdamWConstants {
  /** 1 − lr·wd (1 for a parameter without decay). */
  readonly decay: number;
  /** Whether lerp's weight 1 − β1 is below 0.5: m + w·(g − m), else g + (w − 1)·(g − m) (PyTorch's lerp). */
  readonly lerpSmall: boolean;
  /** w or w − 1, as lerpSmall says. */
  readonly lerpCoeff: number;
  readonly beta2: number;
  /** 1 − β2. */
  readonly c2: number;
  /** √(1 − β2ᵗ). */
  readonly bc2Sqrt: number;
  readonly eps: number;
  /** −lr / (1 − β1ᵗ). */
  readonly negStepSize: number;
}

/** Moments held in WebAssembly memory, and the update over them. */
export interface SimdMoments {
  /** exp_avg and exp_avg_sq per parameter it holds (views of its memory; fixed for its lifetime). */
  readonly m: ReadonlyMap<string, Float32Array>;
  readonly v: ReadonlyMap<string, Float32Array>;
  /** One step of `name`'s parameter, reading each gradient element as fround(g · gradScale). */
  update(name: string, p: Float32Array, g: Float32Array, gradScale: number, k: AdamWConstants): void;
}

interface Slot {
  readonly kernel: Kernel;
  readonly f32: Float32Array;
  /** Byte offsets of the staging areas and of this tensor's moments. */
  readonly stageP: number;
  readonly stageG: number;
  readonly m: number;
  readonly v: number;
}

/**
 * Moments for the parameters in `sizes` (zeros) in WebAssembly memory, with the SIMD update; null where the
 * runtime has no WebAssembly SIMD. Tensors too large for one memory are left out (the caller keeps them in
 * JS arrays and updates them with its own loop).
 */
export function createSimdMoments(sizes: ReadonlyMap<string, number>): SimdMoments | null {
  const module = compileKernel(ADAMW_WASM);
  if (module === null) return null;
  const staging = 2 * CHUNK * 4;
  // Group tensors, in order, into memories of at most MAX_MEMORY_BYTES: staging, then each tensor's m and v
  // (lengths rounded up to a multiple of 4: the kernel works in fours).
  const groups: [string, number][][] = [];
  let current: [string, number][] = [];
  let bytes = staging;
  for (const [name, n] of sizes) {
    const need = 2 * 4 * padded(n);
    if (staging + need > MAX_MEMORY_BYTES) continue;
    if (bytes + need > MAX_MEMORY_BYTES) {
      groups.push(current);
      current = [];
      bytes = staging;
    }
    current.push([name, n]);
    bytes += need;
  }
  if (current.length > 0) groups.push(current);

  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  const slots = new Map<string, Slot>();
  for (const group of groups) {
    let total = staging;
    for (const [, n] of group) total += 2 * 4 * padded(n);
    const api = wasmApi as WasmApi;
    let memory: { readonly buffer: ArrayBuffer };
    try {
      memory = new api.Memory({ initial: Math.ceil(total / PAGE) });
    } catch {
      // No address space for it (V8 reserves guard regions around each memory; a tight `ulimit -v` refuses
      // them): the JS loop and JS arrays then serve every tensor, as without SIMD.
      return null;
    }
    const kernel = new api.Instance(module, { env: { mem: memory } }).exports.adamw as Kernel;
    // The memory never grows, so these views stay valid.
    const f32 = new Float32Array(memory.buffer);
    let at = staging;
    for (const [name, n] of group) {
      const bytes = 4 * padded(n);
      slots.set(name, { kernel, f32, stageP: 0, stageG: CHUNK * 4, m: at, v: at + bytes });
      m.set(name, new Float32Array(memory.buffer, at, n));
      v.set(name, new Float32Array(memory.buffer, at + bytes, n));
      at += 2 * bytes;
    }
  }

  return {
    m,
    v,
    update(name, p, g, gradScale, k) {
      const s = slots.get(name) as Slot;
      const { f32, kernel } = s;
      const small = k.lerpSmall ? -1 : 0;
      for (let start = 0; start < p.length; start += CHUNK) {
        const end = Math.min(start + CHUNK, p.length);
        const len = end - start;
        f32.set(p.subarray(start, end), s.stageP / 4);
        f32.set(g.subarray(start, end), s.stageG / 4);
        // A tail that is not a multiple of 4 runs up to three elements past the tensor in the staging area and the
        // moments' padding: values nobody reads.
        kernel(
          s.stageP,
          s.stageG,
          s.m + start * 4,
          s.v + start * 4,
          padded(len) * 4,
          gradScale,
          k.decay,
          small,
          k.lerpCoeff,
          k.beta2,
          k.c2,
          k.bc2Sqrt,
          k.eps,
          k.negStepSize,
        );
        p.set(f32.subarray(s.stageP / 4, s.stageP / 4 + len), start);
      }
    },
  };
}

/** n rounded up to a multiple of 4. */
function padded(n: number): number {
  return n + (-n & 3);
}
