import { generate, type SamplingOptions } from '@tunemesh/engine';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { finiteNumber, idList, integer, nonNegativeInt, positiveInt } from '../parse.js';
import { addModelOptions, type ModelOpts, optionalTokenizer, withModel } from './common.js';

interface GenerateOpts extends ModelOpts {
  prompt?: string;
  promptIds?: number[];
  maxNewTokens: number;
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  chat?: boolean;
  stopIds?: number[];
  stop: boolean;
  json?: boolean;
}

function sampling(o: GenerateOpts): SamplingOptions {
  const sampled = o.temperature !== undefined || o.topK !== undefined || o.topP !== undefined;
  if (o.greedy && sampled) throw new UsageError('--greedy cannot be combined with --temperature, --top-k or --top-p');
  if (!sampled) return { greedy: true };
  return {
    temperature: o.temperature ?? 1,
    ...(o.topK !== undefined && { topK: o.topK }),
    ...(o.topP !== undefined && { topP: o.topP }),
  };
}

export function registerGenerate(program: Command, print: (s: string) => void): void {
  addModelOptions(program.command('generate').description('continue a prompt with a KV-cached decoder'))
    .option('--prompt <text>', 'prompt text (tokenised with the model tokenizer)')
    .option('--prompt-ids <ids>', 'prompt as comma-separated token ids', idList)
    .requiredOption('--max-new-tokens <n>', 'tokens to generate at most', positiveInt)
    .option('--greedy', 'always take the most likely token (the default)')
    .option('--temperature <t>', 'sample with this temperature (> 0)', finiteNumber)
    .option('--top-k <k>', 'sample among the k most likely tokens', nonNegativeInt)
    .option('--top-p <p>', 'sample from the smallest set with probability >= p', finiteNumber)
    .option('--seed <s>', 'seed for sampling', integer, 0)
    .option('--chat', 'wrap --prompt as a user message in the chat template, with the assistant header')
    .option('--stop-ids <ids>', 'stop at these token ids (default: the model eos tokens)', idList)
    .option('--no-stop', 'never stop before --max-new-tokens')
    .option('--json', 'print {"ids","text"} (ids: new tokens only)')
    .action(async (o: GenerateOpts) => {
      if ((o.prompt === undefined) === (o.promptIds === undefined))
        throw new UsageError('give exactly one of --prompt or --prompt-ids');
      if (o.chat && o.prompt === undefined) throw new UsageError('--chat needs --prompt (text)');
      const samplingOpts = sampling(o);
      const out = await withModel(o, async (m) => {
        const tokenizer = await optionalTokenizer(o.model);
        let promptIds: number[];
        if (o.prompt !== undefined) {
          if (!tokenizer) throw new UsageError(`${o.model} has no tokenizer.json: use --prompt-ids`);
          const text = o.chat
            ? tokenizer.applyChatTemplate([{ role: 'user', content: o.prompt }], { addGenerationPrompt: true })
            : o.prompt;
          promptIds = tokenizer.encode(text, { addSpecialTokens: !o.chat });
          if (promptIds.length === 0) throw new UsageError('--prompt tokenises to no tokens');
        } else promptIds = o.promptIds ?? [];
        const stopTokens = !o.stop ? [] : (o.stopIds ?? tokenizer?.stopTokenIds ?? m.config.eosTokenIds);
        const [g] = await generate(await m.decoder(), [promptIds], {
          ...samplingOpts,
          maxNewTokens: o.maxNewTokens,
          seed: o.seed,
          stopTokens,
          padId: tokenizer?.padTokenId ?? m.config.padTokenId ?? 0,
          vocabSize: m.config.vocabSize,
        });
        const ids = g?.ids ?? [];
        return { ids, text: tokenizer ? tokenizer.decode(ids, { skipSpecialTokens: true }) : null };
      });
      if (o.json) print(`${JSON.stringify(out)}\n`);
      else print(`${out.text ?? out.ids.join(',')}\n`);
    });
}
