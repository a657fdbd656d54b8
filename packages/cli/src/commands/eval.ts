import { evaluateLoss, readDataRows, type ScoringRow, tokenizeRows } from '@tunemesh/engine';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { positiveInt } from '../parse.js';
import { addModelOptions, type ModelOpts, optionalTokenizer, withModel } from './common.js';

interface EvalOpts extends ModelOpts {
  data: string;
  batchSize: number;
  maxLength?: number;
  json?: boolean;
}

export function registerEval(program: Command, print: (s: string) => void): void {
  addModelOptions(program.command('eval').description('loss and perplexity of a model on a dataset'))
    .requiredOption(
      '--data <file>',
      'JSONL rows: pre-tokenised {"input_ids","labels"?} or text formats (chat, alpaca, text)',
    )
    .option('--batch-size <n>', 'rows per forward pass', positiveInt, 8)
    .option('--max-length <n>', 'truncate tokenised text rows to this many tokens', positiveInt)
    .option('--json', 'print {"loss","perplexity","tokens"}')
    .action(async (o: EvalOpts) => {
      const result = await withModel(o, async (m) => {
        const vocabSize = m.config.vocabSize;
        const dataRows = await readDataRows(o.data, { vocabSize });
        let rows: ScoringRow[];
        let padId = m.config.padTokenId ?? 0;
        if (dataRows.every((r) => r.format === 'pretokenized')) {
          rows = dataRows.map((r) => ({ inputIds: r.input_ids, ...(r.labels && { labels: r.labels }) }));
        } else {
          const tokenizer = await optionalTokenizer(o.model);
          if (!tokenizer)
            throw new UsageError(`${o.data} holds text rows, but ${o.model} has no tokenizer.json to tokenise them`);
          padId = tokenizer.padTokenId ?? padId;
          const tokenized = tokenizeRows(dataRows, tokenizer, {
            file: o.data,
            ...(o.maxLength !== undefined && { maxLength: o.maxLength }),
          });
          rows = tokenized.map((r) => ({ inputIds: r.input_ids, labels: r.labels }));
        }
        return evaluateLoss(await m.session('loss'), rows, {
          batchSize: o.batchSize,
          padId,
          vocabSize,
          ...(m.maxPositions !== undefined && { maxPositions: m.maxPositions }),
        });
      });
      if (o.json)
        print(`${JSON.stringify({ loss: result.loss, perplexity: result.perplexity, tokens: result.tokens })}\n`);
      else
        print(
          `loss        ${result.loss.toFixed(6)}\nperplexity  ${result.perplexity.toPrecision(6)}\ntokens      ${result.tokens}\n`,
        );
    });
}
