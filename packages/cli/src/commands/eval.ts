import {
  type ClassificationRow,
  classificationReport,
  classifyByLabelWords,
  evaluateLoss,
  readDataRows,
  type ScoringRow,
  taskLabels,
  tokenizeRows,
} from '@tunemesh/engine';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { positiveInt } from '../parse.js';
import { addModelOptions, type ModelOpts, optionalTokenizer, withModel } from './common.js';
import { classification, labelWords } from './train-data.js';

interface EvalOpts extends ModelOpts {
  data: string;
  batchSize: number;
  maxLength?: number;
  promptTemplate?: string;
  labelWords?: string;
  json?: boolean;
}

interface EvalResult {
  loss: number;
  perplexity: number;
  tokens: number;
  /** Classification rows only: label-word accuracy, macro-F1 and the confusion matrix (rows: truth). */
  classification?: { accuracy: number; macroF1: number; labels: string[]; confusion: number[][] };
}

export function registerEval(program: Command, print: (s: string) => void): void {
  addModelOptions(program.command('eval').description('loss and perplexity of a model on a dataset'))
    .requiredOption(
      '--data <file>',
      'JSONL rows: pre-tokenised {"input_ids","labels"?} or text formats (chat, alpaca, text, classification)',
    )
    .option('--batch-size <n>', 'rows per forward pass', positiveInt, 8)
    .option('--max-length <n>', 'truncate tokenised text rows to this many tokens', positiveInt)
    .option(
      '--prompt-template <t>',
      'classification rows: prompt around {text}, as in training (default "{text}\\nLabel:")',
    )
    .option(
      '--label-words <json>',
      'classification rows: {"label": "word", ...} inline or a JSON file, as in training (default " <label>")',
    )
    .option('--json', 'print {"loss","perplexity","tokens"} (and "classification" for {text, label} rows)')
    .action(async (o: EvalOpts) => {
      const words = o.labelWords === undefined ? undefined : await labelWords(o.labelWords);
      const template = classification(o, words);
      const result = await withModel(o, async (m): Promise<EvalResult> => {
        const vocabSize = m.config.vocabSize;
        const dataRows = await readDataRows(o.data, { vocabSize });
        let rows: ScoringRow[];
        let padId = m.config.padTokenId ?? 0;
        const maxPositions = m.maxPositions;
        if (dataRows.every((r) => r.format === 'pretokenized')) {
          rows = dataRows.map((r) => ({ inputIds: r.input_ids, ...(r.labels && { labels: r.labels }) }));
          const loss = await evaluateLoss(await m.session('loss'), rows, {
            batchSize: o.batchSize,
            padId,
            vocabSize,
            ...(maxPositions !== undefined && { maxPositions }),
          });
          return { loss: loss.loss, perplexity: loss.perplexity, tokens: loss.tokens };
        }
        const tokenizer = await optionalTokenizer(o.model);
        if (!tokenizer)
          throw new UsageError(`${o.data} holds text rows, but ${o.model} has no tokenizer.json to tokenise them`);
        padId = tokenizer.padTokenId ?? padId;
        const tokenized = tokenizeRows(dataRows, tokenizer, {
          file: o.data,
          classification: template,
          ...(o.maxLength !== undefined && { maxLength: o.maxLength }),
        });
        rows = tokenized.map((r) => ({ inputIds: r.input_ids, labels: r.labels }));
        const loss = await evaluateLoss(await m.session('loss'), rows, {
          batchSize: o.batchSize,
          padId,
          vocabSize,
          ...(maxPositions !== undefined && { maxPositions }),
        });
        const out: EvalResult = { loss: loss.loss, perplexity: loss.perplexity, tokens: loss.tokens };
        const classRows = dataRows.filter((r): r is ClassificationRow => r.format === 'classification');
        if (classRows.length > 0 && classRows.length === dataRows.length) {
          const predictions = await classifyByLabelWords(await m.session('logits'), classRows, {
            tokenizer,
            padId,
            classification: template,
            batchSize: o.batchSize,
            ...(o.maxLength !== undefined && { maxLength: o.maxLength }),
          });
          const labels = taskLabels(classRows, { classification: template });
          const report = classificationReport(
            predictions.map((p) => p.predicted),
            predictions.map((p) => p.label),
            labels,
          );
          const k = labels.length;
          out.classification = {
            accuracy: report.accuracy,
            macroF1: report.macroF1,
            labels,
            confusion: labels.map((_, i) => report.confusion.slice(i * k, (i + 1) * k)),
          };
        }
        return out;
      });
      if (o.json) {
        print(`${JSON.stringify(result)}\n`);
        return;
      }
      let text = `loss        ${result.loss.toFixed(6)}\nperplexity  ${result.perplexity.toPrecision(6)}\ntokens      ${result.tokens}\n`;
      const c = result.classification;
      if (c) {
        text += `accuracy    ${c.accuracy.toFixed(4)}\nmacro-F1    ${c.macroF1.toFixed(4)}\n`;
        text += `confusion   (rows: true label, columns: predicted; ${c.labels.map((l) => JSON.stringify(l)).join(', ')})\n`;
        for (const row of c.confusion) text += `            ${row.map((n) => String(n).padStart(6)).join('')}\n`;
      }
      print(text);
    });
}
