// The `tunemesh` command: option parsing and error reporting. Each subcommand lives in commands/.

import { Command } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerDataset } from './commands/dataset-validate.js';
import { registerEval } from './commands/eval.js';
import { registerGenerate } from './commands/generate.js';
import { registerMakeTinyModel } from './commands/make-tiny-model.js';
import { registerMerge } from './commands/merge.js';
import { registerTrain } from './commands/train.js';
import { oneLine, reportError } from './errors.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('tunemesh')
    .description('fine-tune, evaluate and run language models on ONNX Runtime')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // Commander writes "error: ..." and sometimes a suggestion on a second line: make it our one line.
      outputError: (str, write) => write(`tunemesh: ${oneLine(str.replace(/^error: /, ''))}\n`),
    })
    .exitOverride();
  registerEval(program, io.stdout);
  registerGenerate(program, io.stdout);
  registerMakeTinyModel(program, io.stdout);
  registerDataset(program, io.stdout);
  registerTrain(program, io.stdout, io.stderr);
  registerMerge(program, io.stdout);
  registerBench(program, io.stdout);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    cmd.configureOutput(program.configureOutput());
  }
  return program;
}

/** Runs the CLI on argv (node, script, ...args) and returns the exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      return 2;
    }
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    return reportError(err, io.stderr);
  }
}
