// dataset.ready / dataset.failed on JetStream, with the report summary, once an import has finished.

import { type NatsHandle, publishEvent } from '@tunemesh/kit';
import { DatasetFailed, DatasetReady, SUBJECTS } from '@tunemesh/proto';
import { datasetToProto } from './convert.js';
import type { DatasetRecord } from './store/records.js';

/** At most this many findings ride in a dataset.failed event; the full report is on the dataset. */
type JetStreamClient = ReturnType<NatsHandle['nc']['jetstream']>;

export const FAILED_EVENT_FINDINGS = 10;

export async function publishDatasetFinished(js: JetStreamClient, record: DatasetRecord): Promise<void> {
  const d = datasetToProto(record);
  const report = d.validationReport;
  const occurredAt = record.completedAt ?? new Date();
  // The dataset id makes a retried publish a duplicate that JetStream stores once.
  if (record.status === 'READY') {
    await publishEvent(
      js,
      SUBJECTS.datasetReady,
      DatasetReady,
      {
        datasetId: d.id,
        name: d.name,
        format: d.format,
        contentSha256: d.contentSha256,
        rows: d.rows,
        warningCount: report?.warningCount ?? 0n,
        totals: report?.totals ?? [],
        occurredAt,
      },
      { msgId: `dataset.ready.${d.id}`, component: 'dataset' },
    );
  } else {
    await publishEvent(
      js,
      SUBJECTS.datasetFailed,
      DatasetFailed,
      {
        datasetId: d.id,
        name: d.name,
        errorCount: report?.errorCount ?? 0n,
        warningCount: report?.warningCount ?? 0n,
        totals: report?.totals ?? [],
        firstFindings: (report?.findings ?? []).slice(0, FAILED_EVENT_FINDINGS),
        ...(d.error !== undefined && { error: d.error }),
        occurredAt,
      },
      { msgId: `dataset.failed.${d.id}`, component: 'dataset' },
    );
  }
}
