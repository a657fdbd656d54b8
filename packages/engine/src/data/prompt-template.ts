import type { AlpacaRow, ChatMessage } from './rows.js';

/**
 * The default prompt for alpaca rows on models without a chat template: the Stanford Alpaca prompt format.
 * A row's `system` replaces the opening sentence. The prompt ends with "### Response:\n", so the output
 * starts a new pre-token and the prompt/response boundary falls on a token boundary.
 */
export function renderAlpacaPrompt(row: Pick<AlpacaRow, 'instruction' | 'input' | 'system'>): string {
  const hasInput = row.input !== undefined && row.input !== '';
  const preamble =
    row.system ??
    (hasInput
      ? 'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.'
      : 'Below is an instruction that describes a task. Write a response that appropriately completes the request.');
  const input = hasInput ? `### Input:\n${row.input}\n\n` : '';
  return `${preamble}\n\n### Instruction:\n${row.instruction}\n\n${input}### Response:\n`;
}

/**
 * An alpaca row as a conversation, for the model's chat template: system (when given), the instruction as
 * the user turn (the input, when given, follows after a blank line), the output as the assistant turn.
 */
export function alpacaToMessages(row: Pick<AlpacaRow, 'instruction' | 'input' | 'system' | 'output'>): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (row.system !== undefined) messages.push({ role: 'system', content: row.system });
  const user = row.input !== undefined && row.input !== '' ? `${row.instruction}\n\n${row.input}` : row.instruction;
  messages.push({ role: 'user', content: user }, { role: 'assistant', content: row.output });
  return messages;
}
