// `tunemesh dataset validate FILE`: the dataset service's validation, run locally. Prints the report (text or
// --json) on stdout; exits 1 when the file has errors, so it can gate a script or CI job.

import {
  DATA_FORMATS,
  type DataFormat,
  FILE_FORMATS,
  type FileFormat,
  type FindingTotal,
  formatFinding,
  loadTokenizer,
  type ValidateOptions,
  type ValidationSummary,
  validateDataFile,
} from '@tunemesh/engine';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { positiveInt } from '../parse.js';

interface Opts {
  format?: DataFormat;
  fileFormat?: FileFormat;
  model?: string;
  maxLength?: number;
  drop?: boolean;
  removeDuplicates?: boolean;
  map?: Record<string, string>;
  promptTemplate?: string;
  labelWords?: Record<string, string>;
  json?: boolean;
}

/** The data has errors: the report was printed, the exit code says so. Typed, so the CLI prints one line. */
export class DatasetInvalidError extends Error {
  override readonly name = 'DatasetInvalidError';
  readonly code = 'DATASET_INVALID';
}

function oneOf<T extends string>(values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v))
      throw new InvalidArgumentError(`Expected one of ${values.join(', ')}.`);
    return v as T;
  };
}

/** "a=b,c=d" → {a: "b", c: "d"}; values may be empty or contain spaces (label words start with one). */
function pairs(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError('Expected key=value pairs separated by commas.');
    out[part.slice(0, eq).trim()] = part.slice(eq + 1);
  }
  return out;
}

export function registerDataset(program: Command, print: (s: string) => void): void {
  const dataset = program.command('dataset').description('inspect training data');
  const validate = dataset
    .command('validate')
    .description('validate a data file (JSONL, JSON array, CSV) and print the report; exit 1 on errors')
    .argument('<file>', 'data file')
    .addOption(
      new Option('--format <format>', `row format: ${DATA_FORMATS.join(', ')} (default: detect)`).argParser(
        oneOf(DATA_FORMATS),
      ),
    )
    .addOption(
      new Option('--file-format <format>', `container: ${FILE_FORMATS.join(', ')} (default: detect)`).argParser(
        oneOf(FILE_FORMATS),
      ),
    )
    .option('--model <dir>', 'model directory whose tokenizer counts tokens and renders chat templates')
    .option('--max-length <n>', 'maximum tokens per example (default: the model context length)', positiveInt)
    .option('--drop', 'drop over-long examples instead of truncating them')
    .option('--remove-duplicates', 'leave exact duplicates out (they are always reported)')
    .option('--map <pairs>', 'column mapping, e.g. instruction=prompt,output=completion', pairs)
    .option('--prompt-template <t>', 'classification prompt with {text}, e.g. "Review: {text}\\nSentiment:"')
    .option('--label-words <pairs>', 'classification label words, e.g. "0= negative,1= positive"', pairs)
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, o: Opts) => {
      const opts: ValidateOptions = {
        ...(o.format !== undefined && { format: o.format }),
        ...(o.fileFormat !== undefined && { fileFormat: o.fileFormat }),
        ...(o.model !== undefined && { tokenizer: await loadTokenizer(o.model) }),
        ...(o.maxLength !== undefined && { maxLength: o.maxLength }),
        overlength: o.drop === true ? 'drop' : 'truncate',
        removeDuplicates: o.removeDuplicates === true,
        ...(o.map !== undefined && { mapping: o.map }),
      };
      if (o.promptTemplate !== undefined || o.labelWords !== undefined) {
        opts.template = {
          classification: {
            ...(o.promptTemplate !== undefined && { template: o.promptTemplate.replaceAll('\\n', '\n') }),
            ...(o.labelWords !== undefined && { labelWords: o.labelWords }),
          },
        };
      }
      const summary = await validateDataFile(file, opts);
      print(o.json === true ? `${JSON.stringify(summary, null, 2)}\n` : renderText(file, summary));
      const { errorCount, warningCount } = summary.report;
      if (errorCount > 0) {
        throw new DatasetInvalidError(
          `${file}: ${errorCount} error(s), ${warningCount} warning(s); the data is not usable`,
        );
      }
    });
  // The CLI makes its top-level commands throw instead of exiting; a nested one needs the same.
  validate.exitOverride();
  validate.configureOutput(program.configureOutput());
}

function renderText(file: string, s: ValidationSummary): string {
  const { report, counts } = s;
  const lines = [
    `${file}: ${s.format ?? 'unknown format'} (${s.fileFormat.toUpperCase()}), ${counts.total} records, ${counts.kept} kept; ${report.errorCount} error(s), ${report.warningCount} warning(s)`,
  ];
  for (const f of report.findings) lines.push(`  ${formatFinding(file, f)}`);
  if (report.findingsTruncated) lines.push(`  … first ${report.findings.length} findings listed`);
  if (report.totals.length > 0)
    lines.push(`totals: ${report.totals.map((t: FindingTotal) => `${t.kind} (${t.severity}) ${t.count}`).join(', ')}`);
  if (counts.duplicates + counts.truncated + counts.dropped > 0)
    lines.push(`duplicates ${counts.duplicates}, truncated ${counts.truncated}, dropped ${counts.dropped}`);
  const l = s.lengths;
  if (l !== undefined && l.exampleCount > 0) {
    lines.push(
      `tokens: min ${l.minLength}, mean ${l.meanLength.toFixed(1)}, p50 ${l.p50Length}, p95 ${l.p95Length}, max ${l.maxLength}` +
        `${s.maxLength === undefined ? '' : ` (limit ${s.maxLength})`}; ${(l.lossTokenFraction * 100).toFixed(1)}% of tokens carry loss`,
    );
  }
  const labels = Object.entries(s.labelCounts);
  if (labels.length > 0) lines.push(`labels: ${labels.map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}
