// The loss curve of a run, kept in each checkpoint (loss_history.json) so that a resumed run — `tunemesh train
// --resume`, or a trainer node picking up a job another node lost — draws its chart from step 1. Shared by the
// CLI and the trainer service so both write the same file.

import { writeFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LossPoint, renderLossChart } from '../report/loss-chart.js';

export const LOSS_HISTORY_FILE = 'loss_history.json';

export interface LossHistory {
  train: LossPoint[];
  val: LossPoint[];
}

/** The history saved in a checkpoint; empty for a checkpoint written without one. */
export async function readLossHistory(checkpoint: string): Promise<LossHistory> {
  try {
    const h = JSON.parse(await readFile(join(checkpoint, LOSS_HISTORY_FILE), 'utf8')) as Partial<LossHistory>;
    return { train: h.train ?? [], val: h.val ?? [] };
  } catch {
    return { train: [], val: [] };
  }
}

/** Synchronous: train()'s onCheckpoint callback has no promise to wait on, and the file is small. */
export function writeLossHistorySync(checkpoint: string, history: LossHistory): void {
  writeFileSync(join(checkpoint, LOSS_HISTORY_FILE), `${JSON.stringify(history)}\n`);
}

/** Writes the SVG chart to `file` under a temporary name, then renames it, so a reader never sees half of it. */
export async function writeLossChartFile(file: string, history: LossHistory, title: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, renderLossChart({ train: history.train, val: history.val, title }));
  await rename(tmp, file);
}
