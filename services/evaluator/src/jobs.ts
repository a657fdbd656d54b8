// Evaluations as jobs: queued in memory, run one at a time (a node's cores serve one evaluation best), each
// with its own AbortController so CancelEvaluation stops it between batches. Every status change is written
// to the store before its event is published, so a subscriber that reads back finds what the event says.
import { loadTokenizer, openModel } from '@tunemesh/engine';
import { type Logger, type NatsHandle, publishEvent } from '@tunemesh/kit';
import {
  type Evaluation,
  EvaluationCancelled,
  EvaluationCompleted,
  EvaluationFailed,
  EvaluationProgress,
  EvaluationStatus,
  evaluationSubject,
} from '@tunemesh/proto';
import { computeMetrics } from './compute.js';
import { type DatasetClient, readExamples } from './examples.js';
import type { ResolvedModel } from './models.js';
import type { EvaluationRecords } from './store/evaluations.js';

type JetStreamClient = ReturnType<NatsHandle['nc']['jetstream']>;

export interface QueuedEvaluation {
  readonly evaluation: Evaluation;
  readonly model: ResolvedModel;
  readonly labelWords: Readonly<Record<string, string>>;
  readonly numSamples: number;
  readonly batchSize: number;
}

export interface JobDeps {
  readonly records: EvaluationRecords;
  readonly datasets: DatasetClient;
  readonly js: JetStreamClient;
  readonly logger: Logger;
}

const TERMINAL = new Set([EvaluationStatus.SUCCEEDED, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED]);
export const isTerminal = (s: EvaluationStatus): boolean => TERMINAL.has(s);

export class EvaluationJobs {
  private readonly queue: QueuedEvaluation[] = [];
  private readonly controllers = new Map<string, AbortController>();
  private readonly sequences = new Map<string, bigint>();
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: JobDeps) {}

  enqueue(job: QueuedEvaluation): void {
    this.controllers.set(job.evaluation.id, new AbortController());
    this.queue.push(job);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  private readonly finished = new Map<string, () => void>();

  /**
   * Cancels a queued evaluation at once, or aborts a running one and waits until the runner has recorded
   * CANCELLED (it stops between batches). False when this process does not hold it.
   */
  async cancel(id: string): Promise<boolean> {
    const c = this.controllers.get(id);
    if (!c) return false;
    const queued = this.queue.findIndex((j) => j.evaluation.id === id);
    if (queued >= 0) {
      const [job] = this.queue.splice(queued, 1);
      this.controllers.delete(id);
      const e = (job as QueuedEvaluation).evaluation;
      e.status = EvaluationStatus.CANCELLED;
      e.finishedAt = new Date();
      await this.deps.records.update(e);
      await this.publish(id, 'cancelled', e);
      return true;
    }
    const done = new Promise<void>((resolve) => this.finished.set(id, resolve));
    c.abort();
    await done;
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.controllers.values()) c.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.run(job);
  }

  private nextSequence(id: string): bigint {
    const s = (this.sequences.get(id) ?? 0n) + 1n;
    this.sequences.set(id, s);
    return s;
  }

  private async publish(id: string, kind: 'progress' | 'completed' | 'failed' | 'cancelled', e: Evaluation) {
    const sequence = this.nextSequence(id);
    const occurredAt = new Date();
    const subject = evaluationSubject(id, kind);
    const opts = { msgId: `${id}:${sequence}`, component: 'evaluator' };
    try {
      if (kind === 'completed') {
        await publishEvent(
          this.deps.js,
          subject,
          EvaluationCompleted,
          {
            evaluationId: id,
            sequence,
            ...(e.model && { model: e.model }),
            baseModelId: e.baseModelId,
            jobId: e.jobId,
            datasetId: e.datasetId,
            split: e.split,
            isBaseline: e.isBaseline,
            metrics: e.results.map((r) => ({ metric: r.metric, value: r.value })),
            occurredAt,
          },
          opts,
        );
      } else if (kind === 'failed') {
        await publishEvent(
          this.deps.js,
          subject,
          EvaluationFailed,
          {
            evaluationId: id,
            sequence,
            ...(e.error && { error: e.error }),
            occurredAt,
          },
          opts,
        );
      } else if (kind === 'cancelled') {
        await publishEvent(
          this.deps.js,
          subject,
          EvaluationCancelled,
          { evaluationId: id, sequence, occurredAt },
          opts,
        );
      } else {
        const p = e.progress;
        const elapsed = e.startedAt ? (Date.now() - e.startedAt.getTime()) / 1000 : 0;
        await publishEvent(
          this.deps.js,
          subject,
          EvaluationProgress,
          {
            evaluationId: id,
            sequence,
            examplesDone: p?.examplesDone ?? 0n,
            examplesTotal: p?.examplesTotal ?? 0n,
            elapsedSeconds: elapsed,
            occurredAt,
          },
          opts,
        );
      }
    } catch (err) {
      // The stored evaluation is the truth; a lost event is logged, not allowed to fail the evaluation.
      this.deps.logger.warn({ err, subject }, 'publishing an evaluation event failed');
    }
  }

  private async run(job: QueuedEvaluation): Promise<void> {
    const e = job.evaluation;
    // Progress writes are chained so that none lands after the final write.
    let writes: Promise<void> = Promise.resolve();
    const controller = this.controllers.get(e.id) as AbortController;
    const signal = controller.signal;
    try {
      if (signal.aborted) throw signal.reason;
      e.status = EvaluationStatus.RUNNING;
      e.startedAt = new Date();
      await this.deps.records.update(e);
      const model = await openModel(job.model.baseDir, {
        threads: 1,
        ...(job.model.adapterDir && { adapterDir: job.model.adapterDir }),
      });
      try {
        const tokenizer = await loadTokenizer(job.model.baseDir);
        const examples = await readExamples(
          this.deps.datasets,
          { datasetId: e.datasetId, split: e.split, modelDir: job.model.tokenizerDir, limit: Number(e.maxExamples) },
          signal,
        );
        const total = BigInt(examples.length);
        e.progress = { examplesDone: 0n, examplesTotal: total, fraction: 0 };
        let lastWrite = 0;
        const out = await computeMetrics({
          model,
          tokenizer,
          examples,
          metrics: e.metrics,
          labelWords: job.labelWords,
          generation: e.generation ?? { decoding: 0, maxNewTokens: 0, topK: 0, stop: [] },
          batchSize: job.batchSize,
          numSamples: job.numSamples,
          signal,
          onProgress: (fraction) => {
            e.progress = {
              examplesDone: BigInt(Math.floor(fraction * examples.length)),
              examplesTotal: total,
              fraction,
            };
            // Progress is written at most every 200 ms: enough for a dashboard, cheap for SQLite.
            const now = Date.now();
            if (now - lastWrite > 200 && fraction < 1) {
              lastWrite = now;
              const snapshot = { ...e };
              writes = writes
                .then(() => this.deps.records.update(snapshot))
                .then(() => this.publish(e.id, 'progress', snapshot))
                .catch((err) => this.deps.logger.warn({ err }, 'recording evaluation progress failed'));
            }
          },
        });
        signal.throwIfAborted();
        e.results = out.results;
        e.samples = out.samples;
        e.labelScores = out.labelScores;
        if (out.confusion) e.confusionMatrix = out.confusion;
        e.progress = { examplesDone: total, examplesTotal: total, fraction: 1 };
        e.status = EvaluationStatus.SUCCEEDED;
      } finally {
        await model.release();
      }
    } catch (err) {
      if (signal.aborted) {
        e.status = EvaluationStatus.CANCELLED;
      } else {
        e.status = EvaluationStatus.FAILED;
        const message = err instanceof Error ? err.message : String(err);
        const type = err instanceof Error ? err.name : 'Error';
        e.error = { type, message, retryable: false, fieldViolations: [], metadata: {} };
        this.deps.logger.warn({ err, evaluationId: e.id }, 'evaluation failed');
      }
    } finally {
      this.controllers.delete(e.id);
    }
    await writes;
    e.finishedAt = new Date();
    await this.deps.records.update(e);
    const kind =
      e.status === EvaluationStatus.SUCCEEDED
        ? 'completed'
        : e.status === EvaluationStatus.CANCELLED
          ? 'cancelled'
          : 'failed';
    if (!this.closed || kind !== 'cancelled') await this.publish(e.id, kind, e);
    this.finished.get(e.id)?.();
    this.finished.delete(e.id);
  }
}
