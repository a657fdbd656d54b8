// Where a Hugging Face tokenizer cuts a text before its model runs. The tokenizer first splits the text at
// its added tokens (special tokens such as <|im_start|>), then normalises, pre-tokenises and encodes each
// piece on its own; so, unless an added token strips the whitespace beside it or the pre-tokenizer treats
// the first piece differently, encode(text) is the concatenation of the pieces' encodings. Chat renderings
// are mostly short pieces between special tokens, which lets tokenize-rows find a loss span's first token
// by encoding only the piece it falls in instead of the whole text before it.

/** A range of a text that the tokenizer encodes on its own: one added token, or the text between them. */
export interface TextPiece {
  start: number;
  end: number;
  /** True when the piece is exactly one added token. */
  added: boolean;
}

type Json = Record<string, unknown>;

interface TrieNode {
  next: Map<number, TrieNode>;
  /** Length of the added token ending here (in UTF-16 units), when one does. */
  token?: number;
}

/**
 * Splits text at added tokens as @huggingface/tokenizers does before normalising: scanning left to right,
 * the longest added token starting at a position wins, and the text between matches is one piece.
 */
export class AddedTokenSplitter {
  private readonly root: TrieNode = { next: new Map() };

  constructor(contents: readonly string[]) {
    for (const content of contents) {
      if (content === '') continue;
      let node = this.root;
      for (let i = 0; i < content.length; i++) {
        const c = content.charCodeAt(i);
        let child = node.next.get(c);
        if (child === undefined) {
          child = { next: new Map() };
          node.next.set(c, child);
        }
        node = child;
      }
      node.token = content.length;
    }
  }

  split(text: string): TextPiece[] {
    const pieces: TextPiece[] = [];
    const n = text.length;
    let start = 0;
    let i = 0;
    while (i < n) {
      let node: TrieNode | undefined = this.root;
      let match = 0;
      for (let j = i; j < n; j++) {
        node = node.next.get(text.charCodeAt(j));
        if (node === undefined) break;
        if (node.token !== undefined) match = node.token;
      }
      if (match === 0) {
        i++;
        continue;
      }
      if (i > start) pieces.push({ start, end: i, added: false });
      pieces.push({ start: i, end: i + match, added: true });
      i += match;
      start = i;
    }
    if (start < n) pieces.push({ start, end: n, added: false });
    return pieces;
  }
}

/**
 * Why encoding a text with this tokenizer.json is not the concatenation of its pieces' encodings, or
 * undefined when it is. Checked against how @huggingface/tokenizers encodes: added tokens with lstrip or
 * rstrip trim the neighbouring pieces, and a Metaspace pre-tokenizer with prepend_scheme "first" adds its
 * space only to the first piece. Everything else (normaliser, pre-tokenizer, model) runs on each piece alone.
 */
export function piecewiseObstacle(tokenizerJson: Json): string | undefined {
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as Json[]) : [];
  for (const t of added) {
    if (t.lstrip === true || t.rstrip === true) {
      return `added token ${JSON.stringify(t.content)} strips whitespace beside it (lstrip/rstrip)`;
    }
  }
  const firstOnly = (p: unknown): boolean => {
    if (p === null || typeof p !== 'object') return false;
    const o = p as Json;
    if (o.type === 'Metaspace') return o.prepend_scheme === 'first';
    return Array.isArray(o.pretokenizers) && o.pretokenizers.some(firstOnly);
  };
  if (firstOnly(tokenizerJson.pre_tokenizer)) {
    return 'the Metaspace pre-tokenizer prepends its space to the first piece only (prepend_scheme "first")';
  }
  return undefined;
}

/**
 * The added tokens that split a text before normalisation: those not marked `normalized` (which defaults to
 * "not special"), or all of them when the tokenizer has no normaliser. Normalised added tokens are matched
 * later, inside each piece, so they do not cut pieces.
 */
export function unnormalizedAddedTokens(tokenizerJson: Json): string[] {
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as Json[]) : [];
  const hasNormalizer = tokenizerJson.normalizer !== null && tokenizerJson.normalizer !== undefined;
  const out: string[] = [];
  for (const t of added) {
    if (typeof t.content !== 'string') continue;
    const normalized = typeof t.normalized === 'boolean' ? t.normalized : t.special !== true;
    if (!(normalized && hasNormalizer)) out.push(t.content);
  }
  return out;
}
