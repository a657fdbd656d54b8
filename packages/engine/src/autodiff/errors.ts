import { EngineError } from '../errors.js';

/**
 * Why a gradient graph could not be built. `code` is stable for callers:
 * - 'no-rule': an op on the path to the loss has no gradient rule (the message names op, domain and node);
 * - 'bad-wrt': a `wrt` name is unknown, not trainable, or not a floating-point tensor;
 * - 'unused-wrt': a `wrt` tensor does not reach the loss;
 * - 'bad-loss': the loss is unknown, not floating point, or does not depend on any `wrt` tensor;
 * - 'unsupported': an op's attributes or shapes fall outside what its rule handles (the message says which);
 * - 'bad-opset': the graph's opset is below the floor the backward ops need.
 */
export type AutodiffErrorCode = 'no-rule' | 'bad-wrt' | 'unused-wrt' | 'bad-loss' | 'unsupported' | 'bad-opset';

export class AutodiffError extends EngineError {
  override readonly name: string = 'AutodiffError';
  declare readonly code: AutodiffErrorCode;

  constructor(code: AutodiffErrorCode, message: string, opts?: { cause?: unknown }) {
    super(code, message, opts);
  }
}

/** An op reached on the path from a trainable tensor to the loss has no entry in the gradient table. */
export class NoGradientRuleError extends AutodiffError {
  override readonly name: string = 'NoGradientRuleError';

  constructor(
    readonly opType: string,
    readonly domain: string,
    readonly nodeName: string,
  ) {
    super('no-rule', `no gradient rule for op '${domain === '' ? '' : `${domain}.`}${opType}' (node '${nodeName}')`);
  }
}
