// Starting one of the engine's worker threads, from TypeScript source or from dist/.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * A worker running module `name` (without extension) next to the module whose `import.meta.url` is `from`. From
 * TypeScript source (vitest, tsx) the entry is a .ts file: a small eval'd bootstrap loads it through tsx's API
 * (Node 20 does not apply an `--import` loader to a worker's entry module). From dist/ it is the .js file.
 */
export function startModuleWorker(from: string, name: string): Worker {
  // tsx's tsImport marks the modules it loads with a query string (…/resident.ts?tsx-namespace=…).
  if (new URL(from).pathname.endsWith('.ts')) {
    // The ESM entry: when the parent runs under `--import tsx`, the worker inherits that flag and importing tsx's
    // CommonJS API entry then fails inside tsx's own loader.
    const tsxApi = pathToFileURL(createRequire(from).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
    const entry = new URL(`./${name}.ts`, from).href;
    const boot = `import(${JSON.stringify(tsxApi)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
    return new Worker(boot, { eval: true });
  }
  return new Worker(new URL(`./${name}.js`, from));
}
