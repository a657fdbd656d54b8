// In-memory tracing for tests: every span ended in this process, synchronously, so assertions need no waiting.
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { setupTelemetry } from '../telemetry.js';

export interface MemoryTracing {
  spans(): ReadableSpan[];
  reset(): void;
  shutdown(): Promise<void>;
}

export function installMemoryTracing(serviceName = 'tunemesh-test'): MemoryTracing {
  const exporter = new InMemorySpanExporter();
  const telemetry = setupTelemetry({ serviceName, exporter, synchronous: true });
  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    shutdown: () => telemetry.shutdown(),
  };
}

/** True when `child` descends from `ancestor` through the parent links among `spans`. */
export function isDescendant(spans: readonly ReadableSpan[], child: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  let parentId = child.parentSpanContext?.spanId;
  while (parentId !== undefined) {
    if (parentId === ancestor.spanContext().spanId) return true;
    parentId = byId.get(parentId)?.parentSpanContext?.spanId;
  }
  return false;
}
