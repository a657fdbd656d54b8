import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { floatToBf16 } from './convert.js';
import { loadSafetensors } from './safetensors-read.js';
import { encodeSafetensorsHeader, type HeaderSpec } from './safetensors-write.js';

// Issue 3: a bf16 checkpoint converts to float32 while loading without a second full copy — peak memory
// while loading stays under 1.5x the float32 weight bytes. 200 MB of bf16 becomes 400 MB of float32.
const TENSORS = 25;
const ELEMENTS = 4 * 1024 * 1024; // 8 MB bf16 each
const F32_BYTES = TENSORS * ELEMENTS * 4;

let dir: string;
let path: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tm-loadmem-'));
  path = join(dir, 'big.safetensors');
  const specs: HeaderSpec[] = Array.from({ length: TENSORS }, (_, i) => ({
    name: `layer.${String(i).padStart(2, '0')}.weight`,
    dtype: 'BF16',
    shape: [1024, 4096],
  }));
  const fh = await open(path, 'w');
  await fh.write(encodeSafetensorsHeader(specs).bytes);
  // One reusable chunk: the test itself must not hold the file in memory.
  const chunk = new Uint16Array(ELEMENTS);
  for (let t = 0; t < TENSORS; t++) {
    chunk[0] = floatToBf16(t + 0.5);
    chunk[ELEMENTS - 1] = floatToBf16(-t);
    for (let i = 1; i < ELEMENTS - 1; i += 4099) chunk[i] = floatToBf16(i / ELEMENTS);
    await fh.write(new Uint8Array(chunk.buffer));
  }
  await fh.close();
}, 30_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('loads 200 MB of bf16 as float32 with peak growth under 1.5x the float32 bytes', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakAb = base.arrayBuffers;
  const started = performance.now();
  const weights = await loadSafetensors(path, {
    dtype: 'float32',
    onTensor: () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakAb = Math.max(peakAb, m.arrayBuffers);
    },
  });
  const ms = performance.now() - started;
  const rssGrowth = peakRss - base.rss;
  const abGrowth = peakAb - base.arrayBuffers;
  console.log(
    `load-memory: ${(F32_BYTES / 2 ** 20).toFixed(0)} MiB float32 from bf16 in ${ms.toFixed(0)} ms; ` +
      `peak rss growth ${(rssGrowth / 2 ** 20).toFixed(0)} MiB (${(rssGrowth / F32_BYTES).toFixed(3)}x), ` +
      `peak arrayBuffers growth ${(abGrowth / 2 ** 20).toFixed(0)} MiB (${(abGrowth / F32_BYTES).toFixed(3)}x)`,
  );
  expect(weights.size).toBe(TENSORS);
  for (let t = 0; t < TENSORS; t++) {
    const w = weights.get(`layer.${String(t).padStart(2, '0')}.weight`);
    expect(w?.dtype).toBe('float32');
    const d = w?.data as Float32Array;
    expect(d.length).toBe(ELEMENTS);
    expect(d[0]).toBe(t + 0.5);
    expect(d[ELEMENTS - 1]).toBe(-t);
  }
  // The float32 tensors alone are 1.0x; the bound leaves room for the 8 MB conversion chunk and allocator slack.
  expect(abGrowth).toBeLessThan(1.5 * F32_BYTES);
  expect(rssGrowth).toBeLessThan(1.5 * F32_BYTES);
  // And the loaded weights really are there (a loader that returned lazily would show no growth).
  expect(abGrowth).toBeGreaterThan(0.95 * F32_BYTES);
}, 30_000);
