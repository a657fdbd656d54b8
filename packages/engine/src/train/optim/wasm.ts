// The part of the WebAssembly API the SIMD kernels use (the project's TypeScript libs do not declare it), and
// their compilation from the bytes in wasm-kernels.ts.

export interface WasmModule {
  readonly __wasmModule?: never;
}
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
}
export const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

const compiled = new Map<string, WasmModule | null>();

/** The module whose bytes are `base64`, compiled once; null where this runtime has no WebAssembly SIMD. */
export function compileKernel(base64: string): WasmModule | null {
  let module = compiled.get(base64);
  if (module === undefined) {
    const bytes = new Uint8Array(Buffer.from(base64, 'base64'));
    module = wasmApi?.validate(bytes) === true ? new wasmApi.Module(bytes) : null;
    compiled.set(base64, module);
  }
  return module;
}
