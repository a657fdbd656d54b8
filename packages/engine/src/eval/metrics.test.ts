// Each metric against values worked out by hand (the arithmetic is in the comments).
import { describe, expect, it } from 'vitest';
import { corpusBleu } from './bleu.js';
import { classificationReport } from './classification.js';
import { EvaluationError } from './errors.js';
import { exactMatch, exactMatchOne } from './exact-match.js';
import { lcsLength, rougeL, rougeLPair } from './rouge-l.js';
import { scoreGenerations } from './tasks.js';
import { bleuTokens, normalizeAnswer, rougeTokens } from './text.js';
import { tokenF1, tokenF1One } from './token-f1.js';

describe('normalisation', () => {
  it('follows SQuAD: lowercase, no punctuation, no articles, single spaces', () => {
    expect(normalizeAnswer('  The  Eiffel Tower! ')).toBe('eiffel tower');
    expect(normalizeAnswer('An apple, a day')).toBe('apple day');
  });
  it('tokenises for ROUGE on non-alphanumerics and for BLEU as mteval-13a', () => {
    expect(rougeTokens("It's 3pm, OK?")).toEqual(['it', 's', '3pm', 'ok']);
    expect(bleuTokens('Hello, world.')).toEqual(['Hello', ',', 'world', '.']);
    // Periods and commas inside numbers stay; a dash after a digit splits.
    expect(bleuTokens('pi is 3.14 and 1,000 (approx) 5-6')).toEqual([
      'pi',
      'is',
      '3.14',
      'and',
      '1,000',
      '(',
      'approx',
      ')',
      '5',
      '-',
      '6',
    ]);
  });
});

describe('exact match', () => {
  it('is 1 after normalisation and takes the best reference', () => {
    expect(exactMatchOne('The  Eiffel Tower!', ['eiffel tower'])).toBe(1);
    expect(exactMatchOne('Paris', ['London', 'paris.'])).toBe(1);
    expect(exactMatchOne('Paris, France', ['paris'])).toBe(0);
    // 2 of 3 exact.
    expect(exactMatch(['a cat', 'dog', 'bird'], [['cat'], ['dog'], ['fish']])).toBeCloseTo(2 / 3, 12);
  });
  it('refuses mismatched or empty inputs', () => {
    expect(() => exactMatch(['a'], [])).toThrow(EvaluationError);
    expect(() => exactMatch([], [])).toThrow(/no examples/);
  });
});

describe('token F1', () => {
  it('matches SQuAD on a hand-computed pair', () => {
    // pred [cat, sat], ref [cat, sat, down]: common 2, P = 1, R = 2/3, F1 = 2·1·(2/3)/(5/3) = 0.8.
    expect(tokenF1One('The Cat sat!', ['a cat sat down'])).toBeCloseTo(0.8, 12);
    // Repeated tokens count at most as often as in the reference: pred [the→dropped] [dog dog dog], ref [dog]:
    // common 1, P = 1/3, R = 1, F1 = 0.5.
    expect(tokenF1One('dog dog dog', ['dog'])).toBeCloseTo(0.5, 12);
    expect(tokenF1One('', [''])).toBe(1);
    expect(tokenF1One('x', ['the'])).toBe(0);
    expect(tokenF1(['The Cat sat!', 'dog dog dog'], [['a cat sat down'], ['dog']])).toBeCloseTo(0.65, 12);
  });
});

describe('ROUGE-L', () => {
  it('uses the longest common subsequence', () => {
    expect(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'b', 'd'])).toBe(3);
    // the cat sat on the mat / the cat is on the mat: LCS "the cat on the mat" = 5, P = R = 5/6.
    const s = rougeLPair('the cat sat on the mat', 'the cat is on the mat');
    expect(s.precision).toBeCloseTo(5 / 6, 12);
    expect(s.f).toBeCloseTo(5 / 6, 12);
    // police killed the gunman / police kill the gunman: LCS 3 of 4 each side, F = 0.75.
    expect(rougeLPair('police killed the gunman', 'police kill the gunman').f).toBeCloseTo(0.75, 12);
    // P = 2/2, R = 2/4: F = 2·1·0.5/1.5 = 2/3; averaged with 0.75.
    expect(rougeL(['a b', 'police killed the gunman'], [['a x b y'], ['police kill the gunman']])).toBeCloseTo(
      (2 / 3 + 0.75) / 2,
      12,
    );
    expect(rougeLPair('', 'x').f).toBe(0);
  });
});

describe('BLEU', () => {
  it('computes corpus BLEU-4 with exp smoothing by hand', () => {
    // hyp "the cat sat on the mat", ref "the cat is on the mat" (6 tokens each, BP = 1).
    // matches 5/6, 3/5, 1/4, 0/3; exp smoothing makes p4 = 100/(2·3).
    // BLEU = (83.333·60·25·16.667)^(1/4) = 2083333.3^(1/4) = 37.9918...
    const r = corpusBleu(['the cat sat on the mat'], [['the cat is on the mat']]);
    expect(r.matches).toEqual([5, 3, 1, 0]);
    expect(r.totals).toEqual([6, 5, 4, 3]);
    expect(r.brevityPenalty).toBe(1);
    expect(r.score).toBeCloseTo(37.9918, 3);
    expect(corpusBleu(['the cat sat on the mat'], [['the cat is on the mat']], { smoothing: 'none' }).score).toBe(0);
  });
  it('applies the brevity penalty against the closest reference length', () => {
    // hyp "the cat" (2) vs refs of 6 and 9 tokens: r = 6, BP = e^(1-6/2) = e^-2; p1 = p2 = 100%.
    const r = corpusBleu(['the cat'], [['the cat sat on the mat', 'the cat sat on the mat in the sun']], {
      maxOrder: 2,
    });
    expect(r.referenceLength).toBe(6);
    expect(r.score).toBeCloseTo(100 * Math.exp(-2), 10);
    expect(corpusBleu(['x y z w'], [['x y z w']]).score).toBeCloseTo(100, 10);
  });
  it('pools counts over the corpus rather than averaging sentences', () => {
    // Two sentences: "a b c d" = ref (4 of each order match) and "e f g h" vs "e f g i" (3,2,1,0).
    // Pooled: p = 7/8, 5/6, 3/4, 1/2 (no zero, no smoothing needed); BLEU = (87.5·83.333·75·50)^(1/4).
    const r = corpusBleu(['a b c d', 'e f g h'], [['a b c d'], ['e f g i']]);
    expect(r.matches).toEqual([7, 5, 3, 1]);
    expect(r.score).toBeCloseTo((87.5 * (500 / 6) * 75 * 50) ** 0.25, 10);
    // 87.5·83.333 = 7291.67; ·75 = 546875; ·50 = 27343750; fourth root = 72.3127.
    expect(r.score).toBeCloseTo(72.3127, 3);
  });
});

describe('classification report', () => {
  it('builds the confusion matrix, accuracy and macro-F1 by hand', () => {
    // truth a a b b c, predicted a b b b a.
    const r = classificationReport(['a', 'b', 'b', 'b', 'a'], ['a', 'a', 'b', 'b', 'c'], ['a', 'b', 'c']);
    expect(r.confusion).toEqual([1, 1, 0, 0, 2, 0, 1, 0, 0]);
    expect(r.accuracy).toBeCloseTo(0.6, 12);
    // a: P 1/2 R 1/2 F 1/2; b: P 2/3 R 1 F 0.8; c: never predicted correctly, F 0. Macro = 1.3/3.
    expect(r.perLabel.map((l) => l.f1)).toEqual([0.5, expect.closeTo(0.8, 12), 0]);
    expect(r.perLabel.map((l) => l.support)).toEqual([2, 2, 1]);
    expect(r.macroF1).toBeCloseTo(1.3 / 3, 12);
  });
  it('names a label outside the label set', () => {
    expect(() => classificationReport(['a'], ['z'], ['a', 'b'])).toThrow(/label "z", not one of "a", "b"/);
  });
});

describe('scoreGenerations', () => {
  it('dispatches to each generative metric', () => {
    expect(scoreGenerations('exact_match', ['Paris'], [['paris']])).toBe(1);
    expect(scoreGenerations('token_f1', ['The Cat sat!'], [['a cat sat down']])).toBeCloseTo(0.8, 12);
    expect(scoreGenerations('rouge_l', ['police killed the gunman'], [['police kill the gunman']])).toBeCloseTo(0.75);
    expect(scoreGenerations('bleu', ['x y z w'], [['x y z w']])).toBeCloseTo(100, 10);
  });
});
