// The engine's validation options from the import settings. Its own module so the tokenising worker threads
// build exactly the same options as the importer without loading the rest of the service.

import type { AlpacaRow, Tokenizer, ValidateOptions } from '@tunemesh/engine';
import type { ImportSettings } from './settings.js';

/** Validation options for the engine from the import settings. */
export function validateOptions(
  settings: ImportSettings,
  tokenizer: Tokenizer | undefined,
  name: string,
): ValidateOptions {
  const t = settings.template;
  const hasClassification = t.promptTemplate !== undefined || t.labelWords !== undefined;
  return {
    name,
    ...(settings.fileFormat !== undefined && { fileFormat: settings.fileFormat }),
    ...(settings.format !== undefined && { format: settings.format }),
    ...(settings.mapping !== undefined && { mapping: settings.mapping }),
    ...(tokenizer !== undefined && { tokenizer }),
    ...(settings.maxLength !== undefined && { maxLength: settings.maxLength }),
    overlength: settings.overlength,
    removeDuplicates: settings.removeDuplicates,
    trainOnPrompt: t.trainOnPrompt === true,
    ...(t.defaultSystemPrompt !== undefined && { defaultSystemPrompt: t.defaultSystemPrompt }),
    template: {
      // An alpaca prompt template names record fields in braces; the output follows the rendered prompt.
      ...(t.promptTemplate !== undefined && {
        template: (row: AlpacaRow) => fillTemplate(t.promptTemplate as string, row),
      }),
      ...(t.chatTemplate !== undefined && { chatTemplate: t.chatTemplate }),
      ...(t.appendEos !== undefined && { appendEos: t.appendEos }),
      ...(hasClassification && {
        classification: {
          ...(t.promptTemplate !== undefined && { template: t.promptTemplate }),
          ...(t.labelWords !== undefined && { labelWords: t.labelWords }),
        },
      }),
    },
  };
}

/** "{instruction}" and friends replaced by the row's fields (absent ones by ''); other braces stay. */
export function fillTemplate(template: string, row: AlpacaRow): string {
  const fields: Record<string, string | undefined> = {
    instruction: row.instruction,
    input: row.input,
    system: row.system,
  };
  return template.replace(/\{(instruction|input|system)\}/g, (_, k: string) => fields[k] ?? '');
}
