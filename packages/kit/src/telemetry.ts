// OpenTelemetry tracing for one process: a tracer provider with the W3C trace-context propagator and an
// AsyncLocalStorage context manager (both set by register()). Services take the tracer from the global API, so
// tests can install an in-memory exporter once for every service started in-process.
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import type { TracesExporter } from './config.js';

export interface Telemetry {
  /** Exports what is buffered; called before exit. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  serviceName: string;
  /** 'none' still creates real spans and propagates context; they are just not exported. */
  exporter?: TracesExporter | SpanExporter;
  /** Base URL of the OTLP/HTTP collector for exporter 'otlp' (spans go to `<it>/v1/traces`). */
  otlpEndpoint?: string;
  /** Export each span as it ends (tests) instead of in batches. */
  synchronous?: boolean;
}

export function setupTelemetry(options: TelemetryOptions): Telemetry {
  const processors: SpanProcessor[] = [];
  const exporter =
    options.exporter === 'console'
      ? new ConsoleSpanExporter()
      : options.exporter === 'otlp'
        ? new OTLPTraceExporter({ url: `${options.otlpEndpoint ?? 'http://127.0.0.1:4318'}/v1/traces` })
        : options.exporter;
  if (exporter !== undefined && exporter !== 'none') {
    processors.push(options.synchronous ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter));
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: processors,
  });
  provider.register();
  return {
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The tracer a tunemesh component uses; instrumentation scope `tunemesh.<component>`. */
export function tracer(component: string) {
  return trace.getTracer(`tunemesh.${component}`);
}
