// grpc.health.v1 for callers (gateway, probes, scripts): the definition and a one-call check with a short deadline.
import { type Channel, ClientError, Status } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { createServiceClient } from './client.js';

export { HealthDefinition };

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNREACHABLE';

export interface HealthResult {
  status: ServingStatus;
  latencyMs: number;
  /** Why it is not serving, in words fit for an operator. */
  error?: string;
}

// grpc.health.v1 HealthCheckResponse.ServingStatus
const SERVING = 1;

export async function checkHealth(
  channel: Channel,
  options: { component: string; service?: string; deadlineMs?: number },
): Promise<HealthResult> {
  const client = createServiceClient(HealthDefinition, channel, {
    component: options.component,
    defaultDeadlineMs: options.deadlineMs ?? 2_000,
  });
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const res = await client.check({ service: options.service ?? '' });
    return { status: res.status === SERVING ? 'SERVING' : 'NOT_SERVING', latencyMs: elapsed() };
  } catch (err) {
    if (err instanceof ClientError && err.code !== Status.UNAVAILABLE && err.code !== Status.DEADLINE_EXCEEDED) {
      return { status: 'NOT_SERVING', latencyMs: elapsed(), error: `${Status[err.code]}: ${err.details}` };
    }
    const why = err instanceof ClientError ? Status[err.code] : 'DEADLINE_EXCEEDED';
    return { status: 'UNREACHABLE', latencyMs: elapsed(), error: why };
  }
}
