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
    expect(listMethods()).toEqual(['bitfit', 'full', 'lora']);
    expect(getMethod('lora').peftType).toBe('LORA');
    expect(getMethod('lora').prefix).toBe('lora_');
  });

  it('an unknown method fails with the registered ones listed', () => {
    expect(() => getMethod('ia4')).toThrow(PeftError);
    expect(() => getMethod('ia4')).toThrow("unknown fine-tuning method 'ia4' (registered: bitfit, full, lora)");
  });

  it('refuses a second method with the same name or parameter prefix', () => {
    expect(() => registerMethod(fake('lora', 'other_'))).toThrow(/already registered/);
    expect(() => registerMethod(fake('lora2', 'lora_'))).toThrow(/prefix 'lora_', already taken by 'lora'/);
    expect(() => registerMethod(fake('Bad Name', 'x_'))).toThrow(/lower-case/);
    registerMethod(fake('ia3-test', 'ia3_'));
    try {
      expect(getMethod('ia3-test').prefix).toBe('ia3_');
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
