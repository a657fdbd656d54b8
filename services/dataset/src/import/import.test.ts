import { describe, expect, it } from 'vitest';
import { fillTemplate } from './importer.js';
import { contentHash, type ImportSettings } from './settings.js';
import { chooseValidation, validationSize } from './split.js';

const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
const base: ImportSettings = {
  template: {},
  split: { kind: 'none' },
  seed: 42,
  overlength: 'truncate',
  removeDuplicates: false,
};

describe('seeded split', () => {
  it('holds out round(n × fraction), at least one each side, the same set every time', () => {
    const a = chooseValidation(keys, { kind: 'fraction', fraction: 0.1 }, 42);
    expect(a.size).toBe(5);
    expect(chooseValidation(keys, { kind: 'fraction', fraction: 0.1 }, 42)).toEqual(a);
    expect(chooseValidation(keys, { kind: 'fraction', fraction: 0.1 }, 43)).not.toEqual(a);
    expect(validationSize(2, { kind: 'fraction', fraction: 0.01 })).toBe(1);
    expect(validationSize(3, { kind: 'count', count: 10 })).toBe(2);
    expect(validationSize(1, { kind: 'count', count: 1 })).toBe(0);
  });

  it('depends on content, not position: reordering rows keeps each example on its side', () => {
    const a = chooseValidation(keys, { kind: 'count', count: 7 }, 42);
    const reversed = [...keys].reverse();
    const b = chooseValidation(reversed, { kind: 'count', count: 7 }, 42);
    expect([...b].map((i) => reversed[i]).sort()).toEqual([...a].map((i) => keys[i]).sort());
  });
});

describe('content hash', () => {
  it('changes with the bytes and with settings that change the data, not with key order', () => {
    const h = contentHash('a'.repeat(64), undefined, base);
    expect(contentHash('a'.repeat(64), undefined, { ...base })).toBe(h);
    expect(contentHash('b'.repeat(64), undefined, base)).not.toBe(h);
    expect(contentHash('a'.repeat(64), undefined, { ...base, seed: 7 })).not.toBe(h);
    expect(contentHash('a'.repeat(64), 'c'.repeat(64), base)).not.toBe(h);
    const reordered = {
      removeDuplicates: false,
      overlength: 'truncate',
      seed: 42,
      split: { kind: 'none' },
      template: {},
    } as ImportSettings;
    expect(contentHash('a'.repeat(64), undefined, reordered)).toBe(h);
  });
});

describe('alpaca prompt template', () => {
  it('fills {instruction}, {input} and {system}; absent fields are empty', () => {
    const row = { format: 'alpaca' as const, line: 1, instruction: 'Add', input: '2 and 2', output: '4' };
    expect(fillTemplate('Q: {instruction} ({input}){system}\nA:', row)).toBe('Q: Add (2 and 2)\nA:');
  });
});
