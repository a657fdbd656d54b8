// A job's training data, streamed from the dataset service (StreamExamples, tokenised there with the base
// model's tokenizer, in stored order: the engine shuffles per epoch with the job's seed, which is what makes a
// resumed run repeat the batch order).

import type { TrainRow } from '@tunemesh/engine';
import type { ServiceClient } from '@tunemesh/kit';
import { type DatasetServiceDefinition, DatasetSplit } from '@tunemesh/proto';

/** Streams take as long as the split is big; this bounds a stalled one. */
const STREAM_DEADLINE_MS = 30 * 60_000;

export async function streamRows(
  datasets: ServiceClient<typeof DatasetServiceDefinition>,
  req: { datasetId: string; modelPath: string; maxLength: number; split: DatasetSplit },
  signal: AbortSignal,
): Promise<TrainRow[]> {
  const rows: TrainRow[] = [];
  const stream = datasets.streamExamples(
    {
      datasetId: req.datasetId,
      split: req.split,
      tokenizer: { source: { $case: 'modelPath', value: req.modelPath } },
      maxLength: req.maxLength,
      shuffle: false,
      epoch: 0,
      startPosition: 0n,
      limit: 0n,
      includeText: false,
    },
    { signal, deadline: new Date(Date.now() + STREAM_DEADLINE_MS) },
  );
  for await (const r of stream) {
    const e = r.example;
    if (e !== undefined) rows.push({ input_ids: e.inputIds, labels: e.labels });
  }
  return rows;
}

export { DatasetSplit };
