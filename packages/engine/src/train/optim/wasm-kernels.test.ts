// The committed kernel bytes (wasm-kernels.ts) are what wabt makes of the .wat sources now: an edited .wat that
// was not recompiled (make wasm-kernels) fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KERNELS_MODULE_PATH, renderKernelsModule, watFiles } from '../../../../../scripts/wasm-kernels.js';

describe('wasm-kernels.ts', () => {
  it('holds what scripts/wasm-kernels.ts compiles from the .wat files', async () => {
    expect(watFiles().length).toBeGreaterThan(0);
    const committed = readFileSync(KERNELS_MODULE_PATH, 'utf8');
    expect(committed === (await renderKernelsModule()), 'stale: run make wasm-kernels and commit the file').toBe(true);
  });
});
