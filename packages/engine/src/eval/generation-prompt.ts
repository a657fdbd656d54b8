// What a generation metric compares: the prompt a row gives the model and the reference it should write.
// Rendering matches training (tokenize-rows), so a fine-tuned model sees the same prompt shape it learnt.
import { renderAlpacaPrompt } from '../data/prompt-template.js';
import type { DataRow } from '../data/rows.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { EvaluationError } from './errors.js';

export interface GenerationExample {
  /** Prompt text, tokenised as is. */
  readonly prompt: string;
  readonly reference: string;
}

/**
 * Alpaca rows: the alpaca prompt and the output. Chat rows: the conversation up to the last assistant
 * message through the chat template (with the generation prompt), and that message. Other formats carry no
 * reference to compare with.
 */
export function generationExample(row: DataRow, tokenizer: Tokenizer, index: number): GenerationExample {
  if (row.format === 'alpaca') return { prompt: renderAlpacaPrompt(row), reference: row.output };
  if (row.format === 'chat') {
    const last = row.messages.map((m) => m.role).lastIndexOf('assistant');
    if (last < 0) {
      throw new EvaluationError(
        'missing_field',
        `generation metrics need an assistant message; chat row ${index} has none`,
      );
    }
    const prompt = tokenizer.applyChatTemplate(row.messages.slice(0, last), { addGenerationPrompt: true });
    return { prompt, reference: row.messages[last]!.content };
  }
  throw new EvaluationError(
    'missing_field',
    `generation metrics need a reference output (alpaca "output" or a chat assistant message); row ${index} is a ${row.format} row`,
  );
}
