// Public API of the autodiff: build a training graph (forward + backward) from a forward graph.
export { AutodiffError, type AutodiffErrorCode, NoGradientRuleError } from './errors.js';
export { buildGradientGraph, gradientName, MIN_OPSET, type GradientGraph, type GradientOptions } from './sweep.js';
export { GRADIENT_RULES, NON_DIFFERENTIABLE } from './rules/table.js';
export { type GradContext, type GradRule, type RuleEntry, ruleKey } from './rules/context.js';
