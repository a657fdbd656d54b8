// Automatic evaluation: every job.<id>.completed on JOB_EVENTS queues an evaluation of the job's result (its
// adapter, or for full fine-tuning its whole model) on the dataset's validation split with the metrics the job
// asked for (LOSS when it asked for none), and a baseline of the base model for each (base, dataset, metric)
// that has none yet. Idempotency keys make a redelivered event queue nothing new.
import { consumeEvents, ensureConsumer, type Logger, type NatsHandle } from '@tunemesh/kit';
import {
  allJobsSubject,
  DatasetSplit,
  type EvaluateAdapterRequest,
  EvaluationStatus,
  EvaluationTrigger,
  JobCompleted,
  Metric,
  STREAMS,
} from '@tunemesh/proto';
import { AckPolicy, DeliverPolicy } from 'nats';
import { type HandlerDeps, submitEvaluation } from './handlers.js';
import { isDir, jobDir, jobModel, type ResolvedModel } from './models.js';

export const AUTO_EVAL_CONSUMER = 'evaluator-auto-eval';

export async function declareAutoEvalConsumer(jsm: NatsHandle['jsm']): Promise<void> {
  await ensureConsumer(jsm, STREAMS.jobEvents.name, {
    durable_name: AUTO_EVAL_CONSUMER,
    filter_subject: allJobsSubject('completed'),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 60 * 1_000_000_000,
    max_deliver: 5,
  });
}

function request(
  model: EvaluateAdapterRequest['model'],
  datasetId: string,
  metrics: Metric[],
  key: string,
): EvaluateAdapterRequest {
  return {
    model,
    datasetId,
    split: DatasetSplit.VALIDATION,
    metrics,
    maxExamples: 0n,
    numSamples: 0,
    batchSize: 0,
    idempotencyKey: key,
  };
}

export async function onJobCompleted(deps: HandlerDeps, ev: JobCompleted, logger: Logger): Promise<void> {
  const metrics = ev.evaluationMetrics.length > 0 ? [...new Set(ev.evaluationMetrics)] : [Metric.LOSS];
  // The event's adapter location when this node can read it, else the adapter root's folder for the job.
  const fromEvent = ev.adapter?.path && (await isDir(ev.adapter.path)) ? ev.adapter.path : undefined;
  const dir = fromEvent ?? (await jobDir(ev.jobId, deps.paths));
  // A full fine-tuning result names no base; the event does.
  const model: ResolvedModel = await jobModel(ev.jobId, dir, deps.paths, { baseModelId: ev.baseModelId });
  await submitEvaluation(
    deps,
    request({ target: { $case: 'jobId', value: ev.jobId } }, ev.datasetId, metrics, `auto:${ev.jobId}`),
    EvaluationTrigger.JOB_COMPLETED,
    model,
  );
  // Baselines: the metrics no live baseline of this base on this dataset's validation split covers yet.
  const existing = await deps.records.list({ datasetId: ev.datasetId, baseModelId: model.baseModelId, limit: 10_000 });
  const covered = new Set(
    existing
      .map((r) => r.evaluation)
      .filter(
        (e) =>
          e.isBaseline &&
          e.split === DatasetSplit.VALIDATION &&
          e.status !== EvaluationStatus.FAILED &&
          e.status !== EvaluationStatus.CANCELLED,
      )
      .flatMap((e) => e.metrics),
  );
  const missing = metrics.filter((m) => !covered.has(m));
  if (missing.length === 0) return;
  const key = `baseline:${model.baseModelId}:${ev.datasetId}:${[...missing].sort().join(',')}`;
  const res = await submitEvaluation(
    deps,
    request({ target: { $case: 'baseModelId', value: model.baseModelId } }, ev.datasetId, missing, key),
    EvaluationTrigger.BASELINE,
  );
  logger.info({ jobId: ev.jobId, evaluationId: res.evaluation?.id }, 'queued automatic evaluation and baseline');
}

/** Consumes job.*.completed until `signal` aborts; a failing event is logged and acknowledged. */
export function runAutoEvaluation(
  deps: HandlerDeps,
  nats: NatsHandle,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  return consumeEvents(nats.nc.jetstream(), {
    stream: STREAMS.jobEvents.name,
    consumer: AUTO_EVAL_CONSUMER,
    codec: JobCompleted,
    component: 'evaluator',
    signal,
    handle: async (event) => {
      try {
        await onJobCompleted(deps, event.payload, logger);
      } catch (err) {
        // A job whose adapter or dataset does not fit would fail the same way on every redelivery.
        logger.warn({ err, jobId: event.payload.jobId }, 'automatic evaluation not queued');
      }
    },
  });
}
