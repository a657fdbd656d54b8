// Text normalisation shared by the generation metrics. Each metric follows the reference implementation its
// numbers are usually compared with, so the normalisations differ on purpose.

const ARTICLES = /\b(a|an|the)\b/g;
// SQuAD strips ASCII punctuation (Python's string.punctuation); Unicode punctuation is stripped too so that
// curly quotes from a tokenizer's decode do not make an otherwise exact answer wrong.
const PUNCTUATION = /[\p{P}\p{S}]/gu;

/** SQuAD's normalize_answer: lowercase, strip punctuation, drop articles, collapse whitespace. */
export function normalizeAnswer(s: string): string {
  return s.toLowerCase().replace(PUNCTUATION, '').replace(ARTICLES, ' ').split(/\s+/).filter(Boolean).join(' ');
}

/** The normalised answer split on whitespace (SQuAD's get_tokens). */
export function answerTokens(s: string): string[] {
  const n = normalizeAnswer(s);
  return n === '' ? [] : n.split(' ');
}

/** rouge-score's default tokenizer: lowercase, every non [a-z0-9] character is a separator. */
export function rougeTokens(s: string): string[] {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .split(' ')
    .filter(Boolean);
}

/**
 * sacrebleu's default '13a' tokenizer (mteval-v13a): punctuation and symbols become their own tokens, except
 * periods and commas inside numbers, and a dash after a digit.
 */
export function bleuTokens(s: string): string[] {
  let line = s
    .replace(/<skipped>/g, '')
    .replace(/-\n/g, '')
    .replace(/\n/g, ' ');
  if (line.includes('&')) {
    line = line
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  }
  line = ` ${line} `;
  line = line.replace(/([{-~[-` -&(-+:-@/])/g, ' $1 ');
  line = line.replace(/([^0-9])([.,])/g, '$1 $2 ');
  line = line.replace(/([.,])([^0-9])/g, ' $1 $2');
  line = line.replace(/([0-9])(-)/g, '$1 $2 ');
  return line.split(/\s+/).filter(Boolean);
}
