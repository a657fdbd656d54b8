// Public API of the autodiff: build a training graph (forward + backward) from a forward graph.
export { AutodiffError, type AutodiffErrorCode, NoGradientRuleError } from './errors.js';
export { type GradContext, type GradRule, type RuleEntry, ruleKey } from './rules/context.js';
export { GRADIENT_RULES, NON_DIFFERENTIABLE } from './rules/table.js';
export { buildGradientGraph, type GradientGraph, type GradientOptions, gradientName, MIN_OPSET } from './sweep.js';
