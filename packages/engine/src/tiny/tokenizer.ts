// A byte-level BPE tokenizer in Hugging Face's tokenizer.json format, generated from scratch: ids 0-255 are
// the 256 bytes (in GPT-2's byte-to-unicode alphabet), then merges learned from a small built-in corpus, then
// the special tokens at the top of the vocabulary. Deterministic: the same vocabulary size gives the same file.

import { TOKENIZER_CORPUS } from './corpus.js';

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/** A ChatML template: each message as <|im_start|>role\ncontent<|im_end|>\n, then the assistant header if asked. */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/**
 * GPT-2's reversible byte -> printable character map: bytes that are printable Latin-1 map to themselves, the
 * rest (controls, space, soft hyphen...) to U+0100 onwards in byte order.
 */
export function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  return out;
}

/** Splits text roughly as the byte-level pre-tokenizer does (optional leading space + a run of one class). */
function preTokenize(text: string): string[] {
  return text.match(/'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu) ?? [];
}

/** Learns up to `count` merges on the corpus; stops early when no pair occurs twice. */
function learnMerges(corpus: string, count: number, alphabet: readonly string[]): [string, string][] {
  const encoder = new TextEncoder();
  const words = new Map<string, number>();
  for (const piece of preTokenize(corpus)) words.set(piece, (words.get(piece) ?? 0) + 1);
  const entries = [...words.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([w, n]) => ({ symbols: Array.from(encoder.encode(w), (byte) => alphabet[byte]!), n }));

  const merges: [string, string][] = [];
  while (merges.length < count) {
    const counts = new Map<string, number>();
    for (const { symbols, n } of entries) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [key, c] of counts) {
      // Ties go to the lexicographically smallest pair so the result does not depend on Map order.
      if (c > bestCount || (c === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === undefined) break;
    const [left, right] = best.split(' ') as [string, string];
    merges.push([left, right]);
    for (const e of entries) {
      const merged: string[] = [];
      for (let i = 0; i < e.symbols.length; i++) {
        if (i + 1 < e.symbols.length && e.symbols[i] === left && e.symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(e.symbols[i]!);
      }
      e.symbols = merged;
    }
  }
  return merges;
}

export interface TokenizerFiles {
  /** tokenizer.json contents. */
  readonly tokenizer: Record<string, unknown>;
  /** tokenizer_config.json contents. */
  readonly config: Record<string, unknown>;
  readonly specialIds: { readonly endOfText: number; readonly imStart: number; readonly imEnd: number };
}

/**
 * Builds tokenizer.json and tokenizer_config.json for a vocabulary of `vocabSize` ids (>= 259). When the
 * corpus runs out of frequent pairs, the remaining merges join learned tokens with a letter, in a fixed order,
 * so any vocabulary size can be filled.
 */
export function makeTokenizerFiles(
  vocabSize: number,
  opts: { tokenizerClass?: string; modelMaxLength?: number; corpus?: string } = {},
): TokenizerFiles {
  const alphabet = byteAlphabet();
  const mergeCount = vocabSize - 256 - SPECIAL_TOKENS.length;
  if (mergeCount < 0) throw new RangeError(`a byte-level vocabulary needs at least ${256 + SPECIAL_TOKENS.length} ids`);
  // A caller's corpus (e.g. the demo's reviews) makes its frequent words single tokens, as a tokenizer trained
  // on the task's text would; the built-in corpus keeps every default model byte-identical.
  const merges = learnMerges(opts.corpus ?? TOKENIZER_CORPUS, mergeCount, alphabet);

  const vocab = new Map<string, number>();
  for (const [id, ch] of alphabet.entries()) vocab.set(ch, id);
  for (const [a, b] of merges) vocab.set(a + b, vocab.size);

  const letters = 'etaoinshrdlcumwfgypbvkjxqz'.split('');
  // Learned tokens first (they are common), then a space and the single letters.
  const bases = [...merges.map(([a, b]) => a + b), alphabet[0x20]!, ...letters];
  outer: for (let round = 0; merges.length < mergeCount; round++) {
    const before = merges.length;
    for (const base of bases.slice()) {
      for (const letter of letters) {
        if (merges.length >= mergeCount) break outer;
        const token = base + letter;
        if (vocab.has(token)) continue;
        merges.push([base, letter]);
        vocab.set(token, vocab.size);
        bases.push(token);
      }
    }
    if (merges.length === before) throw new Error(`cannot fill ${mergeCount} merges (round ${round})`);
  }

  const first = vocab.size;
  const added = SPECIAL_TOKENS.map((content, i) => ({
    id: first + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const addedDecoder = Object.fromEntries(
    added.map((t) => [
      String(t.id),
      { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
    ]),
  );
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedDecoder,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: null,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    model_max_length: opts.modelMaxLength ?? 2048,
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: opts.tokenizerClass ?? 'Qwen2Tokenizer',
    unk_token: null,
  };
  return { tokenizer, config, specialIds: { endOfText: first, imStart: first + 1, imEnd: first + 2 } };
}
