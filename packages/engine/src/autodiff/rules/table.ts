// THE gradient table: one entry per op type, keyed `domain:opType` ('' is the default ONNX domain). Rules are
// grouped by file for reading; this is the only place they are registered. Composite functions built from
// these primitives (GELU, RMSNorm written out, attention) need no entry of their own.

import { type RuleEntry, ruleKey } from './context.js';
import { elementwiseRules } from './elementwise.js';
import { gatherRules } from './gather.js';
import { lossRules } from './loss.js';
import { matmulRules } from './matmul.js';
import { normRules } from './norm.js';
import { quantRules } from './quant.js';
import { reduceRules } from './reduce.js';
import { rotaryRules } from './rotary.js';
import { shapeRules } from './shape.js';

function merge(...groups: Record<string, RuleEntry>[]): ReadonlyMap<string, RuleEntry> {
  const table = new Map<string, RuleEntry>();
  for (const group of groups) {
    for (const [key, entry] of Object.entries(group)) {
      if (table.has(key)) throw new Error(`gradient rule '${key}' is registered twice`);
      table.set(key, entry);
    }
  }
  return table;
}

export const GRADIENT_RULES: ReadonlyMap<string, RuleEntry> = merge(
  elementwiseRules,
  matmulRules,
  shapeRules,
  gatherRules,
  reduceRules,
  normRules,
  lossRules,
  quantRules,
  rotaryRules,
);

/**
 * Ops through which no gradient flows: their outputs are integers, booleans, shapes, or piecewise constant
 * in their float inputs. The sweep stops at them instead of failing for a missing rule.
 */
export const NON_DIFFERENTIABLE: ReadonlySet<string> = new Set(
  [
    'Shape',
    'Size',
    'Equal',
    'Less',
    'LessOrEqual',
    'Greater',
    'GreaterOrEqual',
    'Not',
    'And',
    'Or',
    'Xor',
    'IsNaN',
    'IsInf',
    'Range',
    'ArgMax',
    'ArgMin',
    'NonZero',
    'ConstantOfShape',
    'Constant',
    'EyeLike',
    'OneHot',
    'Floor',
    'Ceil',
    'Round',
    'Sign',
    'RandomNormal',
    'RandomNormalLike',
    'RandomUniform',
    'RandomUniformLike',
    'Bernoulli',
    'Multinomial',
  ].map((op) => ruleKey('', op)),
);

export function lookupRule(domain: string, opType: string): RuleEntry | undefined {
  return GRADIENT_RULES.get(ruleKey(domain, opType));
}

export function isNonDifferentiable(domain: string, opType: string): boolean {
  return NON_DIFFERENTIABLE.has(ruleKey(domain, opType));
}
