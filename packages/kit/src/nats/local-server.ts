// Starts a throwaway nats-server with JetStream: for tests, `make up` and `make demo` when no NATS is running.
// The binary path is used directly; tests prefer a container when a Docker engine is reachable (testing/).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { StartupError } from '../errors.js';

export interface LocalNatsServer {
  url: string;
  port: number;
  /** How it was started, for logs: "binary /usr/sbin/nats-server" or "container nats:2.10". */
  kind: string;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  "install it with 'sudo apt-get install nats-server' (Debian/Ubuntu), download it from " +
  'https://github.com/nats-io/nats-server/releases, or set NATS_SERVER_BIN to its path';

/** Where the nats-server binary is: NATS_SERVER_BIN, PATH, then Debian's /usr/sbin. */
export function findNatsServerBinary(): string | undefined {
  const explicit = process.env.NATS_SERVER_BIN;
  if (explicit !== undefined && explicit !== '') return existsSync(explicit) ? explicit : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'nats-server');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export async function startNatsServerBinary(options: { startTimeoutMs?: number } = {}): Promise<LocalNatsServer> {
  const binary = findNatsServerBinary();
  if (binary === undefined) throw new StartupError(`nats-server not found: ${INSTALL_HINT}`);
  const storeDir = await mkdtemp(join(tmpdir(), 'tunemesh-nats-'));
  // -p -1: the server picks a free port and logs it, so there is no race between choosing and binding.
  const child = spawn(binary, ['-js', '-a', '127.0.0.1', '-p', '-1', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let port: number;
  try {
    port = await waitForListening(child, options.startTimeoutMs ?? 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  child.stderr?.resume();
  let stopped: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kind: `binary ${binary}`,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        await rm(storeDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

function waitForListening(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      reject(new StartupError(`nats-server did not start within ${timeoutMs} ms: ${lastLine(output)}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new StartupError(`cannot run nats-server (${err.message}): ${INSTALL_HINT}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new StartupError(`nats-server exited with code ${code} at start: ${lastLine(output)}`));
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      output += chunk;
      const match = /Listening for client connections on [^\s]*:(\d+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.stderr?.removeAllListeners('data');
        resolve(Number(match[1]));
      }
    });
  });
}

function lastLine(output: string): string {
  const lines = output.trim().split('\n');
  return lines[lines.length - 1] ?? '(no output)';
}
