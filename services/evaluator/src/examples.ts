// The rows of a dataset split, read from the dataset service over gRPC (GetDataset + StreamExamples), tokenised
// by the dataset service with the evaluated model's tokenizer and the dataset's own template settings, so the
// loss masking is exactly the one training used.
import { FailedPreconditionError, type ServiceClient } from '@tunemesh/kit';
import {
  type Dataset,
  DatasetFormat,
  type DatasetServiceDefinition,
  DatasetSplit,
  DatasetStatus,
} from '@tunemesh/proto';

export interface EvalExample {
  /** Index of the example within the split. */
  readonly position: number;
  readonly inputIds: number[];
  readonly labels: number[];
  readonly promptText: string;
  readonly referenceText: string;
}

export type DatasetClient = ServiceClient<typeof DatasetServiceDefinition>;

export async function readyDataset(client: DatasetClient, datasetId: string): Promise<Dataset> {
  const d = (await client.getDataset({ id: datasetId })).dataset;
  if (!d) throw new FailedPreconditionError(`dataset ${datasetId} was not returned by the dataset service`);
  if (d.status !== DatasetStatus.READY) {
    throw new FailedPreconditionError(`dataset ${datasetId} is ${DatasetStatus[d.status]}, not READY`);
  }
  return d;
}

export const isClassification = (d: Dataset): boolean => d.format === DatasetFormat.CLASSIFICATION;

export async function readExamples(
  client: DatasetClient,
  req: { datasetId: string; split: DatasetSplit; modelDir: string; limit: number },
  signal: AbortSignal,
): Promise<EvalExample[]> {
  const out: EvalExample[] = [];
  for await (const r of client.streamExamples(
    {
      datasetId: req.datasetId,
      split: req.split === DatasetSplit.UNSPECIFIED ? DatasetSplit.VALIDATION : req.split,
      tokenizer: { source: { $case: 'modelPath', value: req.modelDir } },
      maxLength: 0,
      shuffle: false,
      epoch: 0,
      startPosition: 0n,
      limit: BigInt(req.limit),
      includeText: true,
    },
    { signal },
  )) {
    const e = r.example;
    if (!e) continue;
    out.push({
      position: Number(e.position),
      inputIds: e.inputIds,
      labels: e.labels,
      promptText: e.promptText,
      referenceText: e.referenceText,
    });
  }
  return out;
}
