// A worker thread that tokenises batches of rows for an import, through the engine's tokenizeForValidation
// with the same options the importer would use on its own thread, so the results are the same bytes.

import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer, type RowTokenizeSettings, rowTokenizeSettings, tokenizeForValidation } from '@tunemesh/engine';
import type { TokenizeReply, TokenizeRequest, TokenizeWorkerData } from './tokenize-protocol.js';
import { validateOptions } from './validate-options.js';

const port = parentPort;
if (port === null) throw new Error('tokenize-worker.ts must run as a worker thread');

const { settings } = workerData as TokenizeWorkerData;
const dir = settings.tokenizer?.dir;
const tokenizer = dir === undefined ? Promise.reject(new Error('the import has no tokenizer')) : loadTokenizer(dir);
tokenizer.catch(() => undefined); // reported with the first request
const perFile = new Map<string, RowTokenizeSettings>();

port.on('message', async (req: TokenizeRequest) => {
  let reply: TokenizeReply;
  try {
    const tok = await tokenizer;
    let s = perFile.get(req.name);
    if (s === undefined) {
      s = rowTokenizeSettings(req.name, { ...validateOptions(settings, tok, req.name), tokenizer: tok });
      perFile.set(req.name, s);
    }
    const rowSettings = s;
    reply = { id: req.id, results: req.rows.map((row) => tokenizeForValidation(row, rowSettings)) };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
