// One registry of fine-tuning methods (PEFT's register_peft_method): a method is registered once under a
// unique name and a unique parameter prefix, so the prefix alone tells which method a saved tensor belongs to.

import { adapterMethod } from './adapter/index.js';
import { bitfitMethod } from './bitfit/index.js';
import { PeftError } from './errors.js';
import { fullMethod } from './full/index.js';
import { ia3Method } from './ia3/index.js';
import { loraMethod } from './lora/index.js';
import { pTuningMethod } from './p-tuning/index.js';
import { prefixTuningMethod } from './prefix-tuning/index.js';
import { promptTuningMethod } from './prompt-tuning/index.js';
import type { PeftMethod } from './types.js';

const methods = new Map<string, PeftMethod<unknown>>();

export function registerMethod<C>(m: PeftMethod<C>): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(m.name))
    throw new PeftError('bad-config', `method name '${m.name}' must be lower-case letters, digits, '-' or '_'`);
  if (methods.has(m.name)) throw new PeftError('duplicate-method', `method '${m.name}' is already registered`);
  if (m.prefix === '') throw new PeftError('bad-config', `method '${m.name}' needs a non-empty parameter prefix`);
  for (const other of methods.values()) {
    if (other.prefix === m.prefix)
      throw new PeftError(
        'duplicate-prefix',
        `method '${m.name}' uses parameter prefix '${m.prefix}', already taken by '${other.name}'`,
      );
  }
  methods.set(m.name, m as PeftMethod<unknown>);
}

/** Registered method names, sorted. */
export function listMethods(): string[] {
  return [...methods.keys()].sort();
}

export function getMethod(name: string): PeftMethod<unknown> {
  const m = methods.get(name);
  if (m === undefined)
    throw new PeftError(
      'unknown-method',
      `unknown fine-tuning method '${name}' (registered: ${listMethods().join(', ') || 'none'})`,
    );
  return m;
}

/** Tests only: remove a method registered by the test itself. */
export function unregisterMethod(name: string): boolean {
  return methods.delete(name);
}

// The built-in methods, registered once when the registry is first imported.
registerMethod(fullMethod);
registerMethod(loraMethod);
registerMethod(bitfitMethod);
registerMethod(ia3Method);
registerMethod(adapterMethod);
registerMethod(promptTuningMethod);
registerMethod(pTuningMethod);
registerMethod(prefixTuningMethod);
