// Ways to run the CLI from tests: as a user does (a child process from the TypeScript sources, so exit codes and
// stderr are the real ones) or in-process through runCli (for parsing and usage errors that need no fresh
// process). Shared by the CLI's tests and tests/; no test framework here, so it builds with the package.

import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './cli.js';

/** The repository root (the child process runs there, so relative paths in arguments resolve from it). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `tunemesh ...args` in a child process from source; TUNEMESH_DEBUG is cleared so stderr is what users see. */
export function runTunemesh(args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--conditions=tunemesh-source', '--import', 'tsx', 'packages/cli/src/main.ts', ...args],
      { cwd: repoRoot, env: { ...process.env, TUNEMESH_DEBUG: '' }, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** `tunemesh ...args` through runCli in this process, its output collected. */
export async function runTunemeshInProcess(args: readonly string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'tunemesh', ...args], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  });
  return { code, stdout, stderr };
}
