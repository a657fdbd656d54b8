import { Template } from '@huggingface/jinja';
import { ChatTemplateError } from './errors.js';

/**
 * One message as a chat template sees it. Objects with more keys (tool_calls, name, …) are accepted and
 * those keys reach the template unchanged.
 */
export interface TemplateMessage {
  readonly role: string;
  readonly content: string;
}

/** Variables beyond `messages` that transformers' apply_chat_template puts in scope. */
export interface ChatTemplateVars {
  addGenerationPrompt: boolean;
  /** transformers passes every entry of special_tokens_map (bos_token, eos_token, pad_token, unk_token, …). */
  specialTokens: Readonly<Record<string, string | null>>;
  tools?: readonly unknown[] | null;
  documents?: readonly unknown[] | null;
  extra?: Readonly<Record<string, unknown>>;
}

/**
 * A compiled Jinja chat template. @huggingface/jinja compiles with trim_blocks and lstrip_blocks, which is
 * how transformers compiles chat templates, and defines `raise_exception` itself (as transformers does);
 * whatever a render throws, raise_exception included, comes out as a ChatTemplateError naming the origin.
 */
export class ChatTemplate {
  private readonly compiled: Template;

  constructor(
    readonly source: string,
    /** Where the template came from, for messages (e.g. ".../tokenizer_config.json"). */
    readonly origin: string,
  ) {
    try {
      this.compiled = new Template(source);
    } catch (cause) {
      throw new ChatTemplateError(`${origin}: chat template does not compile: ${errorText(cause)}`, { cause });
    }
  }

  render(messages: readonly TemplateMessage[], vars: ChatTemplateVars): string {
    const scope: Record<string, unknown> = {
      ...vars.specialTokens,
      ...vars.extra,
      messages,
      add_generation_prompt: vars.addGenerationPrompt,
      tools: vars.tools ?? null,
      documents: vars.documents ?? null,
    };
    let out: unknown;
    try {
      out = this.compiled.render(scope);
    } catch (cause) {
      throw new ChatTemplateError(`${this.origin}: chat template failed: ${errorText(cause)}`, { cause });
    }
    if (typeof out !== 'string') throw new ChatTemplateError(`${this.origin}: chat template rendered no text`);
    return out;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
