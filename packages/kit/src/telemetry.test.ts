import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, otlpEndpointVar } from './config.js';
import { setupTelemetry, type Telemetry, tracer } from './telemetry.js';

describe('OTLP trace export', () => {
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  it('posts finished spans to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces', async () => {
    // A stand-in collector: records what arrives, answers as an OTLP/HTTP receiver does.
    const received: { url: string; body: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { endpoint } = loadConfig(
        { endpoint: otlpEndpointVar() },
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` },
      );
      telemetry = setupTelemetry({ serviceName: 'tunemesh-otlp-test', exporter: 'otlp', otlpEndpoint: endpoint });
      tracer('otlp-test').startSpan('the-span-to-export').end();
      await telemetry.flush();
      expect(received.map((r) => r.url)).toEqual(['/v1/traces']);
      expect(received[0]?.body).toContain('the-span-to-export');
      expect(received[0]?.body).toContain('tunemesh-otlp-test');
    } finally {
      server.close();
    }
  });

  it('refuses an endpoint that is not an http(s) URL, naming the variable', () => {
    expect(() =>
      loadConfig({ endpoint: otlpEndpointVar() }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318" is invalid: expected an http\(s\) URL/);
  });
});
