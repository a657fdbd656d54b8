// Service processes as an operator runs them (node + tsx on the TypeScript source): bad configuration, a port
// already in use and NATS unreachable each stop the process with one line naming the cause and the fix; SIGTERM
// stops it cleanly with exit code 0.
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type LocalNatsServer, spawnSource, startTestNats } from '../packages/kit/src/testing/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const entry = (service: string) => `services/${service}/src/main.ts`;

let nats: LocalNatsServer;
beforeAll(async () => {
  nats = await startTestNats();
});
afterAll(async () => {
  await nats?.stop();
});

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, `stderr: ${stderr}`).toHaveLength(1);
  expect(stderr).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace
  return lines[0] ?? '';
}

// Concurrent: each case spends most of its time in tsx compiling the service, not in the service.
describe.concurrent('service processes', () => {
  it.each(['dataset', 'gateway'])('%s: a bad env var exits 2 with one line naming it', async (service) => {
    const proc = spawnSource(entry(service), { cwd: ROOT, env: { PORT: 'eighty', NATS_URL: nats.url } });
    const result = await proc.exited;
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toBe(
      `${service}: configuration: PORT="eighty" is invalid: expected a TCP port number 0-65535 (0 picks a free one)`,
    );
  });

  it('a port already in use exits non-zero with one line naming the port and the fix', async () => {
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '0.0.0.0', resolve));
    try {
      const proc = spawnSource(entry('trainer'), {
        cwd: ROOT,
        env: { PORT: String(port), NATS_URL: nats.url, LOG_LEVEL: 'silent' },
      });
      const result = await proc.exited;
      expect(result.code).toBe(1);
      expect(oneLine(result.stderr)).toBe(
        `trainer: port ${port} is already in use on 0.0.0.0: stop the process using it or set PORT to a free port`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('NATS unreachable at start exits non-zero with one line naming the URL and the fix', async () => {
    const natsPort = await freePort();
    const proc = spawnSource(entry('evaluator'), {
      cwd: ROOT,
      env: { PORT: '0', NATS_URL: `nats://127.0.0.1:${natsPort}`, LOG_LEVEL: 'silent' },
    });
    const result = await proc.exited;
    expect(result.code).toBe(1);
    expect(oneLine(result.stderr)).toMatch(
      new RegExp(
        `^cannot reach NATS at nats://127.0.0.1:${natsPort} \\(.+\\): start one with 'nats-server -js' or set NATS_URL`,
      ),
    );
  });

  it('serves, then stops on SIGTERM with exit code 0', async () => {
    const proc = spawnSource(entry('dataset'), {
      cwd: ROOT,
      env: { PORT: '0', NATS_URL: nats.url, LOG_LEVEL: 'info' },
    });
    await proc.waitFor(/dataset gRPC server listening/);
    const result = await proc.stop('SIGTERM');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"msg":"stopped"');
  });
});
