// Prometheus metrics (prom-client), served at /metrics on the gateway's port: requests, errors by code,
// active subscriptions, jobs by status (asked of the trainer at scrape time) and training tokens/s (from the
// job progress events on NATS). One registry per gateway, so several gateways in one process stay apart.
import { JobProgress, type JobProgress as JobProgressMessage, JobStatus, SUBJECTS } from '@tunemesh/proto';
import type { NatsConnection, Subscription } from 'nats';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { MeshClients } from './clients.js';

export interface GatewayMetrics {
  registry: Registry;
  requests: Counter<'transport' | 'operation'>;
  errors: Counter<'code'>;
  subscriptions: Gauge;
  close(): void;
}

const JOB_STATUSES = ['VALIDATING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

export function createMetrics(clients: MeshClients, nc: NatsConnection): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tunemesh_gateway_' });
  const requests = new Counter({
    name: 'tunemesh_gateway_requests_total',
    help: 'GraphQL operations received, by transport (http, websocket) and operation type.',
    labelNames: ['transport', 'operation'] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'tunemesh_gateway_errors_total',
    help: 'Errors returned to clients, by extensions.code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const subscriptions = new Gauge({
    name: 'tunemesh_gateway_subscriptions_active',
    help: 'Subscriptions currently open over WebSocket.',
    registers: [registry],
  });
  new Gauge({
    name: 'tunemesh_jobs',
    help: 'Fine-tuning jobs by status, as the trainer counts them at scrape time (absent while it cannot).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        JOB_STATUSES.map(async (status) => {
          try {
            const res = await clients.trainer.client.listFineTuneJobs({
              statuses: [JobStatus[status]],
              page: { pageSize: 1, pageToken: '' },
            });
            if (res.page?.totalSize !== undefined) this.set({ status }, Number(res.page.totalSize));
          } catch {
            // Trainer down or not built: no value rather than a made-up zero.
          }
        }),
      );
    },
  });
  const tokensPerSecond = new Gauge({
    name: 'tunemesh_training_tokens_per_second',
    help: 'Training throughput of each running job, from its latest progress event.',
    labelNames: ['job_id'] as const,
    registers: [registry],
  });
  // Core NATS (not JetStream): a metric wants the live value, not history.
  const progress: Subscription = nc.subscribe('job.*.progress', {
    callback: (err, msg) => {
      if (err) return;
      try {
        const p: JobProgressMessage = JobProgress.decode(msg.data);
        tokensPerSecond.set({ job_id: p.jobId }, p.tokensPerSecond);
      } catch {
        // a malformed event is the publisher's bug; the metric keeps its last value
      }
    },
  });
  const ended: Subscription = nc.subscribe(SUBJECTS.allJobEvents, {
    callback: (err, msg) => {
      const [, jobId, kind] = msg?.subject.split('.') ?? [];
      if (!err && jobId && (kind === 'completed' || kind === 'failed' || kind === 'cancelled')) {
        tokensPerSecond.remove({ job_id: jobId });
      }
    },
  });
  return {
    registry,
    requests,
    errors,
    subscriptions,
    close() {
      progress.unsubscribe();
      ended.unsubscribe();
    },
  };
}
