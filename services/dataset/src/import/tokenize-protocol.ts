// Messages between the importer and its tokenising worker threads (tokenize-pool.ts, tokenize-worker.ts).

import type { DataRow, RowTokenization } from '@tunemesh/engine';
import type { ImportSettings } from './settings.js';

/** What every worker starts with: the import's settings (plain data; the tokenizer is loaded from its dir). */
export interface TokenizeWorkerData {
  settings: ImportSettings;
}

/** Tokenise these rows of the file named `name` (the name appears in messages). */
export interface TokenizeRequest {
  id: number;
  name: string;
  rows: readonly DataRow[];
}

export type TokenizeReply = { id: number; results: RowTokenization[] } | { id: number; error: string };
