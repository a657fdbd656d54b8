#!/usr/bin/env node
// The tunemesh binary. Exits explicitly: onnxruntime worker threads must not keep a finished command alive.

import { runCli } from './cli.js';
import { reportError } from './errors.js';

const stderr = (s: string) => {
  process.stderr.write(s);
};

// A failure outside the command's promise chain (a stray rejection in a library) still ends in one line.
const fatal = (err: unknown) => process.exit(reportError(err, stderr));
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const code = await runCli(process.argv, {
  stdout: (s) => {
    process.stdout.write(s);
  },
  stderr,
});
process.exit(code);
