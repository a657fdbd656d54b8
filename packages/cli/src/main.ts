#!/usr/bin/env node
// The tunemesh binary. Exits explicitly: onnxruntime worker threads must not keep a finished command alive.

import { runCli } from './cli.js';

const code = await runCli(process.argv, {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
});
process.exit(code);
