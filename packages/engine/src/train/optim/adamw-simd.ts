// AdamW's per-element update as a WebAssembly SIMD kernel: two elements at a time in f64x2 lanes, the same IEEE
// double operations in the same order as adamw.ts's loop (a float32 value promoted to double is exact, demoting
// rounds to nearest as Math.fround does, and WebAssembly neither fuses nor reorders), so the stored float32
// values are the same to the bit — adamw.test.ts compares the two paths on every code path. The JS loop is
// bound by one double division and one square root per element; f64x2 does both for two elements at the price
// of one: ≈ 2.3× the loop's speed, measured on the bench model's 12.85 M elements a thread (bench/README.md,
// train).
//
// The moments live in the kernel's own WebAssembly memory (they never leave the optimiser, and state() hands out
// views of them); each step copies a chunk of the params and gradients into a small staging area, runs the
// kernel over it, and copies the params back: 12 bytes a element of copying against 28 of the update itself.

/** The kernel: one step over `n` elements (even: staging and moments are padded) at byte offsets p, g, m, v. */
type Kernel = (
  p: number,
  g: number,
  m: number,
  v: number,
  nBytes: number,
  gradScale: number,
  beta1: number,
  beta2: number,
  c1: number,
  c2: number,
  eps: number,
  decay: number,
  stepSize: number,
  invBc2Sqrt: number,
) => void;

// ---- a minimal WebAssembly encoder for the one function ----

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;
/** A SIMD instruction (0xfd prefix, opcode as LEB128). */
const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const localGet = (i: number): number[] => [0x20, ...uleb(i)];
const localSet = (i: number): number[] => [0x21, ...uleb(i)];
const MEMARG_8 = [3, 0]; // align 2^3, offset 0
const F64X2_SPLAT = simd(0x14);
const LOAD64_ZERO = simd(0x5d);
const STORE64_LANE = simd(0x5b);
const DEMOTE = simd(0x5e); // f32x4.demote_f64x2_zero
const PROMOTE = simd(0x5f); // f64x2.promote_low_f32x4
const SQRT = simd(0xef);
const ADD = simd(0xf0);
const SUB = simd(0xf1);
const MUL = simd(0xf2);
const DIV = simd(0xf3);

// Params 0–4: p, g, m, v, nBytes (i32); 5–13: gradScale, beta1, beta2, c1, c2, eps, decay, stepSize, invBc2Sqrt
// (f64). Locals: 14 the byte offset o (i32); 15–23 the nine scalars splatted (v128); 24 gi, 25 mi, 26 vi.
const O = 14;
const SPLAT0 = 15;
const [GS, B1, B2, C1, C2, EPS, DECAY, STEP, INV] = Array.from({ length: 9 }, (_, k) => SPLAT0 + k) as [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];
const GI = 24;
const MI = 25;
const VI = 26;

/** Two float32 at ptr + o, promoted to f64x2. */
const load2 = (ptr: number): number[] => [
  ...localGet(ptr),
  ...localGet(O),
  0x6a,
  ...LOAD64_ZERO,
  ...MEMARG_8,
  ...PROMOTE,
];
/** Math.fround on both lanes. */
const FROUND = [...DEMOTE, ...PROMOTE];
/** Stores the f64x2 that `value` pushes as two float32 at ptr + o. */
const store2 = (ptr: number, value: number[]): number[] => [
  ...localGet(ptr),
  ...localGet(O),
  0x6a,
  ...value,
  ...DEMOTE,
  ...STORE64_LANE,
  ...MEMARG_8,
  0,
];

function kernelBytes(): Uint8Array {
  const body: number[] = [];
  for (let k = 0; k < 9; k++) body.push(...localGet(5 + k), ...F64X2_SPLAT, ...localSet(SPLAT0 + k));
  body.push(0x02, 0x40, 0x03, 0x40); // block, loop
  body.push(...localGet(O), ...localGet(4), 0x4f, 0x0d, 1); // o >= nBytes (i32.ge_u): leave the block
  // gi = fround(g · gradScale)
  body.push(...load2(1), ...localGet(GS), ...MUL, ...FROUND, ...localSet(GI));
  // mi = fround(beta1 · m + c1 · gi)
  body.push(...localGet(B1), ...load2(2), ...MUL, ...localGet(C1), ...localGet(GI), ...MUL, ...ADD, ...FROUND);
  body.push(...localSet(MI));
  // vi = fround(beta2 · v + (c2 · gi) · gi)
  body.push(...localGet(B2), ...load2(3), ...MUL, ...localGet(C2), ...localGet(GI), ...MUL, ...localGet(GI), ...MUL);
  body.push(...ADD, ...FROUND, ...localSet(VI));
  body.push(...store2(2, localGet(MI)), ...store2(3, localGet(VI)));
  // p = fround(fround(p · decay) − (stepSize · mi) / (√vi · invBc2Sqrt + eps))
  const p = [
    ...load2(0),
    ...localGet(DECAY),
    ...MUL,
    ...FROUND,
    ...localGet(STEP),
    ...localGet(MI),
    ...MUL,
    ...localGet(VI),
    ...SQRT,
    ...localGet(INV),
    ...MUL,
    ...localGet(EPS),
    ...ADD,
    ...DIV,
    ...SUB,
  ];
  body.push(...store2(0, p));
  body.push(...localGet(O), 0x41, 8, 0x6a, ...localSet(O), 0x0c, 0); // o += 8; continue
  body.push(0x0b, 0x0b, 0x0b); // end loop, end block, end function
  const func = [
    ...vec([
      [1, I32],
      [12, V128],
    ]),
    ...body,
  ];
  const params = [[I32], [I32], [I32], [I32], [I32], ...Array.from({ length: 9 }, () => [F64])];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, vec([[0x60, ...vec(params), 0]])), // type: (params) -> ()
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 1]])), // import memory, min 1 page
    ...section(3, vec([[0]])), // one function of type 0
    ...section(7, vec([[...name('adamw'), 0x00, 0]])), // export it
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
}

// The part of the WebAssembly API used here (the project's TypeScript libs do not declare it).
interface WasmModule {
  readonly __wasmModule?: never;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: WasmModule | null | undefined;

/** The compiled kernel module, or null where this runtime has no WebAssembly SIMD. */
function kernelModule(): WasmModule | null {
  if (compiled === undefined) {
    const bytes = kernelBytes();
    compiled = wasm?.validate(bytes) === true ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

const PAGE = 65536;
/** Elements staged per kernel call: 2 × 64 KiB of params and gradients, which stay in cache. */
const CHUNK = 16384;
/** One memory holds at most this many bytes of moments (and a tensor that alone needs more uses the JS loop). */
const MAX_MEMORY_BYTES = 2 ** 31;

export interface AdamWConstants {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly decay: number;
  readonly stepSize: number;
  readonly invBc2Sqrt: number;
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
  const module = kernelModule();
  if (module === null) return null;
  const staging = 2 * CHUNK * 4;
  // Group tensors, in order, into memories of at most MAX_MEMORY_BYTES: staging, then each tensor's m and v
  // (lengths rounded up to even: the kernel works in pairs).
  const groups: [string, number][][] = [];
  let current: [string, number][] = [];
  let bytes = staging;
  for (const [name, n] of sizes) {
    const need = 2 * 4 * (n + (n & 1));
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
    for (const [, n] of group) total += 2 * 4 * (n + (n & 1));
    const api = wasm as WasmApi;
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
      const padded = 4 * (n + (n & 1));
      slots.set(name, { kernel, f32, stageP: 0, stageG: CHUNK * 4, m: at, v: at + padded });
      m.set(name, new Float32Array(memory.buffer, at, n));
      v.set(name, new Float32Array(memory.buffer, at + padded, n));
      at += 2 * padded;
    }
  }

  return {
    m,
    v,
    update(name, p, g, gradScale, k) {
      const s = slots.get(name) as Slot;
      const { f32, kernel } = s;
      const c1 = 1 - k.beta1;
      const c2 = 1 - k.beta2;
      for (let start = 0; start < p.length; start += CHUNK) {
        const end = Math.min(start + CHUNK, p.length);
        const len = end - start;
        f32.set(p.subarray(start, end), s.stageP / 4);
        f32.set(g.subarray(start, end), s.stageG / 4);
        // An odd tail runs one element past the tensor in the staging area and the moments' padding: values
        // nobody reads.
        kernel(
          s.stageP,
          s.stageG,
          s.m + start * 4,
          s.v + start * 4,
          (len + (len & 1)) * 4,
          gradScale,
          k.beta1,
          k.beta2,
          c1,
          c2,
          k.eps,
          k.decay,
          k.stepSize,
          k.invBc2Sqrt,
        );
        p.set(f32.subarray(s.stageP / 4, s.stageP / 4 + len), start);
      }
    },
  };
}
