import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { AddedTokenSplitter, piecewiseObstacle, type TextPiece, unnormalizedAddedTokens } from './added-token-split.js';
import { ChatTemplate, type TemplateMessage } from './chat-template.js';
import { TokenizerError } from './errors.js';

export type PaddingSide = 'left' | 'right';

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (e.g. a BOS) as its post-processor and add_bos_token say. Default true. */
  addSpecialTokens?: boolean;
  /**
   * The text's ids without special tokens, when the caller already has them (exactly encode(text,
   * {addSpecialTokens: false})): spares encoding the text a second time when special tokens are added.
   */
  plainIds?: readonly number[];
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  /** A template to use instead of the tokenizer's own (e.g. for a base model without one). */
  chatTemplate?: string;
  tools?: readonly unknown[] | null;
  documents?: readonly unknown[] | null;
  /** More variables for templates that read them (e.g. enable_thinking). */
  extra?: Readonly<Record<string, unknown>>;
}

/** A Hugging Face tokenizer directory loaded for use: tokenizer.json plus the settings around it. */
export interface Tokenizer {
  readonly dir: string;
  /** One past the largest id, added tokens included. */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosToken: string | undefined;
  /** The tokenizer's eos_token, else the first eos_token_id of generation_config.json. */
  readonly eosTokenId: number | undefined;
  /** Every id that ends generation: generation_config.json's eos_token_id (one or a list) plus eosTokenId. */
  readonly stopTokenIds: readonly number[];
  readonly padToken: string | undefined;
  /**
   * pad_token's id, or — when the tokenizer has none, as many causal LMs ship — eosTokenId. Pads carry
   * attention 0 and label -100, so which id fills them does not change any result.
   */
  readonly padTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  readonly paddingSide: PaddingSide;
  readonly modelMaxLength: number | undefined;
  /** Content -> id for every special token (added tokens marked special and the configured ones). */
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly specialTokenIds: ReadonlySet<number>;
  /** The chat template source, when the model has one. */
  readonly chatTemplate: string | undefined;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  applyChatTemplate(messages: readonly TemplateMessage[], opts: ChatTemplateOptions & { tokenize: true }): number[];
  applyChatTemplate(messages: readonly TemplateMessage[], opts?: ChatTemplateOptions & { tokenize?: false }): string;
  tokenId(token: string): number | undefined;
  idToken(id: number): string | undefined;
  /**
   * The pieces `encode` cuts `text` into before its model runs (each added token, and the text between
   * them), when encode(text) without special tokens is exactly the concatenation of the pieces' encodings;
   * undefined when this tokenizer does not work that way (then callers encode whole texts). Optional, so
   * other Tokenizer implementations need not provide it.
   */
  pieces?(text: string): TextPiece[] | undefined;
}

type Json = Record<string, unknown>;

/**
 * Loads tokenizer.json (required), tokenizer_config.json and generation_config.json (both optional) from a
 * model directory. The chat template comes from chat_template.jinja when present (newer transformers save
 * it there), else from tokenizer_config.json's chat_template (a string, or a list of {name, template} from
 * which "default" is taken).
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const tokenizerFile = join(dir, 'tokenizer.json');
  const configFile = join(dir, 'tokenizer_config.json');
  const tokenizerJson = await readJsonObject(tokenizerFile, true);
  const config = (await readJsonObject(configFile, false)) ?? {};
  const generation = (await readJsonObject(join(dir, 'generation_config.json'), false)) ?? {};

  let hf: HfTokenizer;
  try {
    // The library reads a few config keys itself; clean_up_tokenization_spaces defaults to true there but
    // to false in transformers >= 4.45, so we pass transformers' default explicitly.
    hf = new HfTokenizer(tokenizerJson, {
      ...config,
      clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true,
    });
  } catch (cause) {
    throw new TokenizerError(tokenizerFile, `not a usable tokenizer: ${errorText(cause)}`, { cause });
  }

  let templateSource: string | undefined;
  let templateOrigin = configFile;
  const jinjaFile = join(dir, 'chat_template.jinja');
  const fromFile = await readOptionalText(jinjaFile);
  if (fromFile !== undefined) {
    templateSource = fromFile;
    templateOrigin = jinjaFile;
  } else {
    templateSource = pickChatTemplate(config.chat_template, configFile);
  }
  // The library's own splitter is internal, so the same split is rebuilt from tokenizer.json's added tokens.
  const splitter =
    piecewiseObstacle(tokenizerJson) === undefined
      ? new AddedTokenSplitter(unnormalizedAddedTokens(tokenizerJson))
      : undefined;
  return new LoadedTokenizer(dir, tokenizerFile, hf, config, generation, templateSource, templateOrigin, splitter);
}

class LoadedTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosToken: string | undefined;
  readonly eosTokenId: number | undefined;
  readonly stopTokenIds: readonly number[];
  readonly padToken: string | undefined;
  readonly padTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  readonly paddingSide: PaddingSide;
  readonly modelMaxLength: number | undefined;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly specialTokenIds: ReadonlySet<number>;
  readonly chatTemplate: string | undefined;
  private readonly addBos: boolean | undefined;
  private readonly addEos: boolean | undefined;
  private readonly templateVars: Record<string, string | null>;
  private compiledTemplate: ChatTemplate | undefined;
  private readonly overrideTemplates = new Map<string, ChatTemplate>();

  constructor(
    readonly dir: string,
    private readonly file: string,
    private readonly hf: HfTokenizer,
    config: Json,
    generation: Json,
    templateSource: string | undefined,
    private readonly templateOrigin: string,
    private readonly splitter: AddedTokenSplitter | undefined,
  ) {
    const configFile = join(dir, 'tokenizer_config.json');
    const vocab = hf.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const special = new Map<string, number>();
    for (const [id, token] of hf.get_added_tokens_decoder()) if (token.special) special.set(token.content, id);

    // Special tokens in tokenizer_config.json are strings or AddedToken objects ({content, …}).
    const tokenField = (key: string): string | undefined => {
      const v = config[key];
      if (v === null || v === undefined) return undefined;
      if (typeof v === 'string') return v;
      if (typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
      throw new TokenizerError(configFile, `${key} must be a string, an AddedToken object or null`);
    };
    const idOf = (key: string, token: string | undefined): number | undefined => {
      if (token === undefined) return undefined;
      const id = hf.token_to_id(token);
      if (id === undefined) throw new TokenizerError(configFile, `${key} '${token}' is not in the vocabulary`);
      special.set(token, id);
      return id;
    };

    this.templateVars = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const token = tokenField(key);
      if (token !== undefined) idOf(key, token);
      this.templateVars[key] = token ?? null;
    }
    const additional = config.additional_special_tokens;
    if (Array.isArray(additional)) {
      for (const [i, entry] of additional.entries()) {
        const token = typeof entry === 'string' ? entry : (entry as Json | null)?.content;
        if (typeof token !== 'string') {
          throw new TokenizerError(configFile, `additional_special_tokens[${i}] must be a string or AddedToken`);
        }
        idOf('additional_special_tokens', token);
      }
    }

    this.bosToken = tokenField('bos_token');
    this.bosTokenId = this.bosToken === undefined ? undefined : special.get(this.bosToken);
    this.eosToken = tokenField('eos_token');
    const generationEos = idList(generation.eos_token_id, join(dir, 'generation_config.json'), this.vocabSize);
    this.eosTokenId = this.eosToken === undefined ? generationEos[0] : special.get(this.eosToken);
    const stops = new Set(generationEos);
    if (this.eosTokenId !== undefined) stops.add(this.eosTokenId);
    this.stopTokenIds = [...stops];
    this.padToken = tokenField('pad_token');
    this.padTokenId = this.padToken === undefined ? this.eosTokenId : special.get(this.padToken);
    const unk = tokenField('unk_token');
    this.unkTokenId = unk === undefined ? undefined : special.get(unk);

    const side = config.padding_side ?? 'right';
    if (side !== 'left' && side !== 'right') {
      throw new TokenizerError(configFile, `padding_side must be 'left' or 'right', got ${JSON.stringify(side)}`);
    }
    this.paddingSide = side;
    // transformers writes a huge sentinel (int(1e30)) when a model has no limit.
    const maxLen = config.model_max_length;
    this.modelMaxLength = typeof maxLen === 'number' && Number.isSafeInteger(maxLen) && maxLen > 0 ? maxLen : undefined;
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : undefined;
    this.addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : undefined;
    this.specialTokens = special;
    this.specialTokenIds = new Set(special.values());
    this.chatTemplate = templateSource;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (opts.addSpecialTokens === false) return this.hf.encode(text, { add_special_tokens: false }).ids;
    const plain = opts.plainIds ?? this.hf.encode(text, { add_special_tokens: false }).ids;
    const ids = this.hf.encode(text, { add_special_tokens: true }).ids;
    // add_bos_token / add_eos_token in tokenizer_config.json override the post-processor, as transformers'
    // Llama-style tokenizers do by rebuilding theirs.
    const added = ids.length - plain.length;
    if (this.addBos === true && this.bosTokenId !== undefined && ids[0] !== this.bosTokenId)
      ids.unshift(this.bosTokenId);
    if (
      this.addBos === false &&
      added > 0 &&
      this.bosTokenId !== undefined &&
      ids[0] === this.bosTokenId &&
      plain[0] !== this.bosTokenId
    )
      ids.shift();
    const last = ids.length - 1;
    if (this.addEos === true && this.eosTokenId !== undefined && ids[last] !== this.eosTokenId)
      ids.push(this.eosTokenId);
    if (
      this.addEos === false &&
      added > 0 &&
      this.eosTokenId !== undefined &&
      ids[last] === this.eosTokenId &&
      plain[plain.length - 1] !== this.eosTokenId
    )
      ids.pop();
    return ids;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError(this.file, `cannot decode id ${id}: outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    if (ids.length === 0) return ''; // the library rejects an empty list
    return this.hf.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens === true });
  }

  applyChatTemplate(messages: readonly TemplateMessage[], opts: ChatTemplateOptions & { tokenize: true }): number[];
  applyChatTemplate(messages: readonly TemplateMessage[], opts?: ChatTemplateOptions & { tokenize?: false }): string;
  applyChatTemplate(
    messages: readonly TemplateMessage[],
    opts: ChatTemplateOptions & { tokenize?: boolean } = {},
  ): string | number[] {
    const template = this.template(opts.chatTemplate);
    const text = template.render(messages, {
      addGenerationPrompt: opts.addGenerationPrompt === true,
      specialTokens: this.templateVars,
      tools: opts.tools,
      documents: opts.documents,
      extra: opts.extra,
    });
    // The template writes the special tokens itself, so transformers encodes its output without adding more.
    return opts.tokenize === true ? this.encode(text, { addSpecialTokens: false }) : text;
  }

  pieces(text: string): TextPiece[] | undefined {
    return this.splitter?.split(text);
  }

  tokenId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  private template(override: string | undefined): ChatTemplate {
    if (override !== undefined) {
      // Compiling is far slower than rendering, and a dataset renders every example with the same override.
      let compiled = this.overrideTemplates.get(override);
      if (compiled === undefined) {
        compiled = new ChatTemplate(override, 'chatTemplate option');
        if (this.overrideTemplates.size >= 16) this.overrideTemplates.clear();
        this.overrideTemplates.set(override, compiled);
      }
      return compiled;
    }
    if (this.chatTemplate === undefined) {
      throw new TokenizerError(this.templateOrigin, 'this tokenizer has no chat_template; pass one explicitly');
    }
    this.compiledTemplate ??= new ChatTemplate(this.chatTemplate, this.templateOrigin);
    return this.compiledTemplate;
  }
}

function pickChatTemplate(value: unknown, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    // Older multi-template format: [{name, template}, …]; transformers uses the one named "default".
    for (const entry of value) {
      if (entry !== null && typeof entry === 'object' && (entry as Json).name === 'default') {
        const t = (entry as Json).template;
        if (typeof t === 'string') return t;
      }
    }
    return undefined;
  }
  throw new TokenizerError(file, 'chat_template must be a string or a list of {name, template}');
}

function idList(value: unknown, file: string, vocabSize: number): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
      throw new TokenizerError(file, `eos_token_id ${JSON.stringify(v)} is not a token id in [0, ${vocabSize})`);
    }
    return v;
  });
}

async function readOptionalText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(file, `cannot read: ${errorText(cause)}`, { cause });
  }
}

async function readJsonObject(file: string, required: true): Promise<Json>;
async function readJsonObject(file: string, required: false): Promise<Json | undefined>;
async function readJsonObject(file: string, required: boolean): Promise<Json | undefined> {
  const text = await readOptionalText(file);
  if (text === undefined) {
    if (required) throw new TokenizerError(file, 'file not found');
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new TokenizerError(file, `invalid JSON: ${errorText(cause)}`, { cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TokenizerError(file, 'expected a JSON object');
  }
  return value as Json;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
