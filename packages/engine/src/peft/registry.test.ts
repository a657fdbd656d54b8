import { describe, expect, it } from 'vitest';
import { formatParamCount, paramCount } from './count.js';
import { PeftError } from './errors.js';
import { getMethod, listMethods, registerMethod, unregisterMethod } from './registry.js';
import type { PeftMethod } from './types.js';

const fake = (name: string, prefix: string): PeftMethod<null> => ({
  name,
  prefix,
  parseConfig: () => null,
  defaults: () => null,
  apply: () => {
    throw new Error('not used');
  },
});

describe('method registry', () => {
  it('holds the built-in methods once', () => {
    // sorted, each once (other methods register beside these)
    const names = listMethods();
    expect(names).toEqual([...new Set(names)].sort());
    expect(names).toEqual(expect.arrayContaining(['bitfit', 'full', 'ia3', 'lora']));
    expect(getMethod('ia3').peftType).toBe('IA3');
    expect(getMethod('lora').peftType).toBe('LORA');
    expect(getMethod('lora').prefix).toBe('lora_');
  });

  it('an unknown method fails with the registered ones listed', () => {
    expect(() => getMethod('ia4')).toThrow(PeftError);
    expect(() => getMethod('ia4')).toThrow(
      `unknown fine-tuning method 'ia4' (registered: ${listMethods().join(', ')})`,
    );
  });

  it('refuses a second method with the same name or parameter prefix', () => {
    expect(() => registerMethod(fake('lora', 'other_'))).toThrow(/already registered/);
    expect(() => registerMethod(fake('lora2', 'lora_'))).toThrow(/prefix 'lora_', already taken by 'lora'/);
    expect(() => registerMethod(fake('Bad Name', 'x_'))).toThrow(/lower-case/);
    expect(() => registerMethod(fake('ia3-again', 'ia3_'))).toThrow(/prefix 'ia3_', already taken by 'ia3'/);
    registerMethod(fake('ia3-test', 'fake3_'));
    try {
      expect(getMethod('ia3-test').prefix).toBe('fake3_');
    } finally {
      unregisterMethod('ia3-test');
    }
    expect(listMethods()).not.toContain('ia3-test');
  });
});

describe('parameter counts', () => {
  it("formats PEFT's print_trainable_parameters line", () => {
    expect(formatParamCount(paramCount(1234, 5678))).toBe(
      'trainable params: 1,234 || all params: 5,678 || trainable%: 21.7330',
    );
    expect(formatParamCount(paramCount(3584, 3584 + 48_896))).toBe(
      'trainable params: 3,584 || all params: 52,480 || trainable%: 6.8293',
    );
    expect(paramCount(0, 0).percent).toBe(0);
  });
});
