import type { TextPiece } from './added-token-split.js';
import { ChatTemplateError, DataError } from './errors.js';
import { alpacaToMessages, renderAlpacaPrompt } from './prompt-template.js';
import { type AlpacaRow, type ChatMessage, type ClassificationRow, type DataRow, IGNORE_INDEX } from './rows.js';
import type { Tokenizer } from './tokenizer.js';

/** Input ids with their labels (IGNORE_INDEX where a position carries no loss), ready for collate. */
export interface TokenizedRow {
  input_ids: number[];
  labels: number[];
  /** True when the row was cut to maxLength. */
  truncated: boolean;
  /** The source line, when the row came from a file. */
  line?: number;
}

/**
 * How alpaca rows become a prompt: 'alpaca' (renderAlpacaPrompt, the default), 'chat' (system/user/assistant
 * through the model's chat template), or a function returning the prompt text (the output follows it).
 */
export type AlpacaTemplate = 'alpaca' | 'chat' | ((row: AlpacaRow) => string);

export interface TokenizeRowsOptions {
  /** Keep at most this many tokens (the start of the row); absent: no truncation. */
  maxLength?: number;
  template?: AlpacaTemplate;
  /** Chat template to use instead of the tokenizer's. */
  chatTemplate?: string;
  /**
   * Append EOS (scored) to text rows and alpaca rows with the 'alpaca' or custom template, so the model
   * learns to stop, as TRL's SFT does. Chat templates write their own end-of-turn tokens. Default true.
   */
  appendEos?: boolean;
  /** How classification rows ({text, label}) become a prompt and a scored label word. */
  classification?: ClassificationTemplate;
  /** Name of the source for messages (default "<rows>"). */
  file?: string;
}

/**
 * A classification row is trained as `template` with {text} replaced by the row's text, followed by its
 * label word (loss on the label word's tokens only), as the IMDB sentiment example does with
 * "Review: {text}\nSentiment:" and {"0": " negative", "1": " positive"}.
 */
export interface ClassificationTemplate {
  /** Must contain {text} once. Default DEFAULT_CLASSIFICATION_TEMPLATE. */
  template?: string;
  /** Label (as a string: "0", "pos") → the text the model learns to write; default " <label>". */
  labelWords?: Readonly<Record<string, string>>;
}

export const DEFAULT_CLASSIFICATION_TEMPLATE = '{text}\nLabel:';

/** A character range of the rendered text that carries loss. */
interface Span {
  start: number;
  end: number;
}

/**
 * Tokenises rows for causal-LM training with loss on the completion only: chat rows score the assistant
 * messages (their content and the end-of-turn text the template writes after it), alpaca rows score the
 * output, text rows score every token, pre-tokenised rows keep their labels (or score every token).
 */
export function tokenizeRows(
  rows: readonly DataRow[],
  tokenizer: Tokenizer,
  opts: TokenizeRowsOptions = {},
): TokenizedRow[] {
  return rows.map((row) => tokenizeRow(row, tokenizer, opts));
}

export function tokenizeRow(row: DataRow, tokenizer: Tokenizer, opts: TokenizeRowsOptions = {}): TokenizedRow {
  if (opts.maxLength !== undefined && (!Number.isSafeInteger(opts.maxLength) || opts.maxLength < 1)) {
    throw new DataError('DATA_OPTION', undefined, `maxLength must be a positive integer, got ${opts.maxLength}`);
  }
  const appendEos = opts.appendEos !== false;
  let out: { input_ids: number[]; labels: number[] };
  switch (row.format) {
    case 'pretokenized':
      out = { input_ids: [...row.input_ids], labels: [...(row.labels ?? row.input_ids)] };
      break;
    case 'text': {
      const ids = tokenizer.encode(row.text, { addSpecialTokens: true });
      out = withEos({ input_ids: ids, labels: [...ids] }, tokenizer, appendEos);
      break;
    }
    case 'chat':
      out = tokenizeChat(row.messages, row.line, tokenizer, opts);
      break;
    case 'classification':
      return tokenizeClassification(row, tokenizer, opts);
    case 'alpaca': {
      const template = opts.template ?? 'alpaca';
      if (template === 'chat') {
        out = tokenizeChat(alpacaToMessages(row), row.line, tokenizer, opts);
      } else {
        const prompt = template === 'alpaca' ? renderAlpacaPrompt(row) : template(row);
        const text = prompt + row.output;
        const encoded = encodeWithSpans(tokenizer, text, [{ start: prompt.length, end: text.length }], true);
        out = withEos(encoded, tokenizer, appendEos);
      }
      break;
    }
  }
  const max = opts.maxLength;
  const truncated = max !== undefined && out.input_ids.length > max;
  if (truncated) {
    out.input_ids.length = max;
    out.labels.length = max;
  }
  return { input_ids: out.input_ids, labels: out.labels, truncated, line: row.line };
}

/**
 * Classification rows keep their label when too long: tokens are cut from the end of the text (inside the
 * template), so the example still teaches its label; only when the template alone does not fit is the end
 * cut (and the row then carries no loss).
 */
function tokenizeClassification(row: ClassificationRow, tokenizer: Tokenizer, opts: TokenizeRowsOptions): TokenizedRow {
  const where = { file: opts.file ?? '<rows>', line: row.line };
  const template = opts.classification?.template ?? DEFAULT_CLASSIFICATION_TEMPLATE;
  const at = template.indexOf('{text}');
  if (at < 0 || template.indexOf('{text}', at + 1) >= 0) {
    throw new DataError(
      'DATA_OPTION',
      undefined,
      `classification template must contain {text} exactly once: ${JSON.stringify(template)}`,
    );
  }
  const key = String(row.label);
  const words = opts.classification?.labelWords;
  const word = words === undefined ? ` ${key}` : words[key];
  if (word === undefined || word === '') {
    throw new DataError(
      'DATA_FIELD_TYPE',
      { ...where, field: 'label' },
      `label ${JSON.stringify(row.label)} has no label word (label words are given for ${Object.keys(words ?? {})
        .map((k) => JSON.stringify(k))
        .join(', ')})`,
    );
  }
  const prompt = template.slice(0, at) + row.text + template.slice(at + '{text}'.length);
  const text = prompt + word;
  const textStart = at;
  const textEnd = at + row.text.length;
  const enc = encodeWithSpans(tokenizer, text, [{ start: prompt.length, end: text.length }], true, [
    textStart,
    textEnd,
  ]);
  const [startTok, endTok] = enc.marks as [number, number];
  const max = opts.maxLength;
  let { input_ids, labels } = enc;
  let truncated = false;
  if (max !== undefined && input_ids.length > max) {
    truncated = true;
    const excess = input_ids.length - max;
    if (endTok - startTok >= excess) {
      input_ids = [...input_ids.slice(0, endTok - excess), ...input_ids.slice(endTok)];
      labels = [...labels.slice(0, endTok - excess), ...labels.slice(endTok)];
    } else {
      input_ids.length = max;
      labels.length = max;
    }
  }
  return { input_ids, labels, truncated, line: row.line };
}

function withEos(
  row: { input_ids: number[]; labels: number[] },
  tokenizer: Tokenizer,
  appendEos: boolean,
): { input_ids: number[]; labels: number[] } {
  const eos = tokenizer.eosTokenId;
  if (appendEos && eos !== undefined && row.input_ids[row.input_ids.length - 1] !== eos) {
    row.input_ids.push(eos);
    row.labels.push(eos);
  }
  return row;
}

/**
 * Renders a conversation and scores each assistant message. The span of message i is found by rendering
 * messages[0..i) with the generation prompt (where the reply starts) and messages[0..i] (where it ends,
 * end-of-turn text included) — exact for any template that renders a conversation as the concatenation of
 * its turns, and checked to contain the message's text. Templates that rewrite earlier turns (e.g. drop
 * reasoning from past replies) fail that check; then the message content is searched for in order in the
 * full rendering, plus a directly following EOS.
 */
function tokenizeChat(
  messages: readonly ChatMessage[],
  line: number,
  tokenizer: Tokenizer,
  opts: TokenizeRowsOptions,
): { input_ids: number[]; labels: number[] } {
  const where = { file: opts.file ?? '<rows>', line };
  // Renders of the same leading messages are asked for more than once (the last assistant message's span
  // ends where the whole conversation does), so each result is kept for this conversation — keyed by how many
  // leading messages it renders, as every render here is of messages[0..k).
  const rendered = new Map<string, string>();
  const render = (msgs: readonly ChatMessage[], addGenerationPrompt: boolean): string => {
    const key = `${msgs.length}/${addGenerationPrompt}`;
    let text = rendered.get(key);
    if (text === undefined) {
      text = tokenizer.applyChatTemplate(msgs, { addGenerationPrompt, chatTemplate: opts.chatTemplate });
      rendered.set(key, text);
    }
    return text;
  };
  let full: string;
  try {
    full = render(messages, false);
  } catch (cause) {
    if (cause instanceof ChatTemplateError) throw new DataError('DATA_TEMPLATE', where, cause.message, { cause });
    throw cause;
  }
  const spans: Span[] = [];
  let searchFrom = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant' || m.weight === 0) return;
    let span = prefixSpan(render, messages, i, full, searchFrom);
    // A span without the message's text means the template does not render it where we looked.
    if (span !== undefined && !full.slice(span.start, span.end).includes(m.content)) span = undefined;
    if (span === undefined) {
      const start = m.content === '' ? -1 : full.indexOf(m.content, searchFrom);
      if (start < 0) {
        throw new DataError(
          'DATA_TEMPLATE',
          { ...where, field: `messages[${i}].content` },
          "cannot find this assistant message in the chat template's rendering, so its loss span is unknown",
        );
      }
      let end = start + m.content.length;
      const eos = tokenizer.eosToken;
      if (eos !== undefined && full.startsWith(eos, end)) end += eos.length;
      span = { start, end };
    }
    spans.push(span);
    searchFrom = span.end;
  });
  return encodeWithSpans(tokenizer, full, spans, false);
}

function prefixSpan(
  render: (msgs: readonly ChatMessage[], addGenerationPrompt: boolean) => string,
  messages: readonly ChatMessage[],
  i: number,
  full: string,
  searchFrom: number,
): Span | undefined {
  let before: string;
  let through: string;
  try {
    before = render(messages.slice(0, i), true);
    through = render(messages.slice(0, i + 1), false);
  } catch (cause) {
    // Templates may refuse a partial conversation (e.g. "must end with a user turn"); use the fallback.
    if (cause instanceof ChatTemplateError) return undefined;
    throw cause;
  }
  const ok =
    before.length >= searchFrom &&
    through.length > before.length &&
    full.startsWith(through) &&
    through.startsWith(before);
  return ok ? { start: before.length, end: through.length } : undefined;
}

/**
 * Encodes `text` — the ids are exactly what the tokenizer gives for the whole text — and labels the tokens
 * inside `spans` (character ranges). A boundary's token index is how far the encoding of the text before it
 * agrees with the whole encoding; when a token straddles the boundary (BPE merged across it), that token
 * goes to the later side.
 */
function encodeWithSpans(
  tokenizer: Tokenizer,
  text: string,
  spans: readonly Span[],
  addSpecialTokens: boolean,
  /** Character positions whose token index the caller wants back (same boundary rule as spans). */
  marks: readonly number[] = [],
): { input_ids: number[]; labels: number[]; marks: number[] } {
  const pieces = tokenizer.pieces?.(text);
  const { plain, boundary } =
    pieces === undefined ? wholeTextBoundaries(tokenizer, text) : pieceBoundaries(tokenizer, text, pieces);
  // The reference path encodes the whole text again, as it always did; the piece path hands its ids over.
  const ids = !addSpecialTokens
    ? plain
    : pieces === undefined
      ? tokenizer.encode(text, { addSpecialTokens: true })
      : tokenizer.encode(text, { addSpecialTokens: true, plainIds: plain });
  const lead = addSpecialTokens ? offsetOf(plain, ids) : 0;
  const labels = new Array<number>(ids.length).fill(IGNORE_INDEX);
  for (const span of spans) {
    const end = lead + boundary(span.end);
    for (let k = lead + boundary(span.start); k < end; k++) labels[k] = ids[k] as number;
  }
  return { input_ids: ids, labels, marks: marks.map((c) => lead + boundary(c)) };
}

interface Boundaries {
  /** The text's ids without special tokens. */
  plain: number[];
  /** The token index of a character position (see encodeWithSpans). */
  boundary: (c: number) => number;
}

/** The reference method, for any tokenizer: encode the whole text, and the whole text before each boundary. */
function wholeTextBoundaries(tokenizer: Tokenizer, text: string): Boundaries {
  const plain = tokenizer.encode(text, { addSpecialTokens: false });
  const boundary = (c: number): number => {
    if (c <= 0) return 0;
    if (c >= text.length) return plain.length;
    return commonPrefix(tokenizer.encode(text.slice(0, c), { addSpecialTokens: false }), plain, 0);
  };
  return { plain, boundary };
}

/**
 * The same result from the tokenizer's pieces (see Tokenizer.pieces): the text's ids are the concatenation
 * of the pieces' ids, and the text before a boundary splits into the same pieces up to the one the boundary
 * falls in, cut there — so only that piece's start needs encoding. A boundary inside an added token (the cut
 * would leave a fragment that no longer matches it) uses the reference method.
 */
function pieceBoundaries(tokenizer: Tokenizer, text: string, pieces: readonly TextPiece[]): Boundaries {
  const firstToken: number[] = [];
  const plain: number[] = [];
  for (const p of pieces) {
    firstToken.push(plain.length);
    for (const id of encodePiece(tokenizer, text.slice(p.start, p.end))) plain.push(id);
  }
  const boundary = (c: number): number => {
    if (c <= 0) return 0;
    if (c >= text.length) return plain.length;
    // The last piece starting at or before c.
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((pieces[mid] as TextPiece).start <= c) lo = mid;
      else hi = mid - 1;
    }
    const piece = pieces[lo] as TextPiece;
    const first = firstToken[lo] as number;
    if (c === piece.start) return first;
    if (piece.added) {
      return commonPrefix(tokenizer.encode(text.slice(0, c), { addSpecialTokens: false }), plain, 0);
    }
    return first + commonPrefix(encodePiece(tokenizer, text.slice(piece.start, c)), plain, first);
  };
  return { plain, boundary };
}

/** Short pieces recur in every example (role headers, the newline between turns): their ids are kept. */
const PIECE_CACHE_MAX_CHARS = 64;
const PIECE_CACHE_ENTRIES = 4096;
const pieceCaches = new WeakMap<Tokenizer, Map<string, readonly number[]>>();

/** The ids of one piece (never mutated by callers: they copy). */
function encodePiece(tokenizer: Tokenizer, piece: string): readonly number[] {
  if (piece.length > PIECE_CACHE_MAX_CHARS) return tokenizer.encode(piece, { addSpecialTokens: false });
  let cache = pieceCaches.get(tokenizer);
  if (cache === undefined) {
    cache = new Map();
    pieceCaches.set(tokenizer, cache);
  }
  let ids = cache.get(piece);
  if (ids === undefined) {
    ids = tokenizer.encode(piece, { addSpecialTokens: false });
    if (cache.size >= PIECE_CACHE_ENTRIES) cache.clear();
    cache.set(piece, ids);
  }
  return ids;
}

/** Where `inner` sits inside `outer` (special tokens added around it); 0 when it is not found intact. */
function offsetOf(inner: readonly number[], outer: readonly number[]): number {
  for (let off = 0; off + inner.length <= outer.length; off++) {
    let k = 0;
    while (k < inner.length && outer[off + k] === inner[k]) k++;
    if (k === inner.length) return off;
  }
  return 0;
}

/** How many leading ids of `a` equal those of `b` from `from` on. */
function commonPrefix(a: readonly number[], b: readonly number[], from: number): number {
  const n = Math.min(a.length, b.length - from);
  let k = 0;
  while (k < n && a[k] === b[from + k]) k++;
  return k;
}
