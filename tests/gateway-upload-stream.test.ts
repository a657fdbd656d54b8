// importDataset's multipart upload is streamed, not buffered: the dataset service receives the header and the
// first bytes of the file while the client is still sending the rest, and every byte arrives in order. A real
// HTTP client writes the multipart body in two halves with a pause between them; the gateway talks to a real
// gRPC server that records each message of the client stream as it comes.
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Dataset, DatasetStatus } from '../proto/src/index.js';
import { type GatewayHarness, startGatewayHarness } from './gateway/harness.js';

let h: GatewayHarness;
beforeAll(async () => {
  h = await startGatewayHarness();
});
afterAll(async () => {
  await h?.stop();
});

const BOUNDARY = 'tunemesh-upload-boundary';

function part(name: string, value: string, filename?: string): string {
  const disposition = `form-data; name="${name}"${filename === undefined ? '' : `; filename="${filename}"`}`;
  const type = filename === undefined ? '' : 'Content-Type: application/jsonl\r\n';
  return `--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n${value}`;
}

it('forwards the file to the dataset service while it is still being uploaded', async () => {
  h.program('dataset', {
    importDataset: () => ({
      dataset: Dataset.fromPartial({ id: 'ds-1', name: 'streamed', status: DatasetStatus.READY }),
    }),
  });
  const line = `${JSON.stringify({ instruction: 'Say hi.', output: 'Hi.' })}\n`;
  // 2 × 256 KiB of JSONL: each half is several of busboy's 64 KiB reads.
  const half = line.repeat(Math.ceil((256 * 1024) / line.length));
  const operations = JSON.stringify({
    query: 'mutation($f: Upload) { importDataset(input: {name: "streamed", upload: $f}) { dataset { id } } }',
    variables: { f: null },
  });
  const head = `${part('operations', operations)}\r\n${part('map', JSON.stringify({ 0: ['variables.f'] }))}\r\n${part('0', '', 'chat.jsonl')}`;
  const tail = `\r\n--${BOUNDARY}--\r\n`;

  const url = new URL(h.gateway.url);
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'apollo-require-preflight': 'true' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.write(head);
    req.write(half);
    // The second half goes only once the service has seen the first one: a gateway that buffers the upload would
    // never forward anything before the request ends, and this test would time out here.
    const started = Date.now();
    const wait = setInterval(() => {
      const received = h.streamed.filter((s) => s.method === 'importDataset').length;
      if (received >= 2) {
        clearInterval(wait);
        req.write(half);
        req.end(tail);
      } else if (Date.now() - started > 10_000) {
        clearInterval(wait);
        req.destroy(new Error('the dataset service received nothing while the upload was in progress'));
      }
    }, 20);
  });
  const { status, body } = await response;
  expect(status, body).toBe(200);
  expect(JSON.parse(body)).toEqual({ data: { importDataset: { dataset: { id: 'ds-1' } } } });
  const items = h.streamed.filter((s) => s.method === 'importDataset').map((s) => s.item) as {
    payload: { $case: string; value: unknown };
  }[];
  expect(items[0]?.payload).toMatchObject({ $case: 'header', value: { fileName: 'chat.jsonl' } });
  const bytes = Buffer.concat(
    items.slice(1).map((i) => {
      expect(i.payload.$case).toBe('chunk');
      return Buffer.from(i.payload.value as Uint8Array);
    }),
  );
  expect(bytes.toString('utf8')).toBe(half + half);
  expect(items.length).toBeGreaterThan(3);
});
