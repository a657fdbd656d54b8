// The fixed vocabulary every gradient rule is written in (after onnxruntime's gradient builders): forward
// inputs I(i), forward outputs O(i), output gradients GO(i), which inputs need a gradient, attributes, opset
// and the builder. A rule returns one gradient per forward input, null where there is none.

import type { GraphBuilder } from '../../onnx/builder.js';
import type { DType, Node, TensorData, Value } from '../../onnx/ir.js';

export interface GradContext {
  readonly node: Node;
  /** The builder the backward nodes go into (a GraphBuilder.extend of the forward graph). */
  readonly b: GraphBuilder;
  readonly opset: number;
  /** Forward input i; throws a typed error if the node omits it. */
  I(i: number): Value;
  /** Whether the node has input i (optional inputs may be omitted). */
  hasInput(i: number): boolean;
  /** Forward output i, including outputs the sweep added because the rule saves them (see RuleEntry.saves). */
  O(i: number): Value;
  /** Whether the node has output i (declared by the model or added because the rule saves it). */
  hasOutput(i: number): boolean;
  /** Gradient of the loss with respect to output i, or null when no gradient reaches that output. */
  GO(i: number): Value | null;
  /** Whether the sweep wants a gradient for input i (it depends on a trainable tensor and is on the path). */
  needs(i: number): boolean;
  attrInt(name: string, fallback: number): number;
  attrFloat(name: string, fallback: number): number;
  attrInts(name: string): readonly number[] | undefined;
  attrString(name: string, fallback: string): string;
  /** Input i's contents when it is a constant (a frozen initialiser or a Constant node), else undefined. */
  constant(i: number): TensorData | undefined;
  /** Input i as integers when it is a constant integer tensor, else undefined. */
  constInts(i: number): number[] | undefined;
  /**
   * `v` through a zero-cost dependency on this node's output gradient, so that whatever the rule computes from
   * it (a dequantized weight, say) is scheduled in the backward, when it is needed, not early in the forward,
   * and is not merged with an equal forward computation.
   */
  after(v: Value): Value;
  /** Throws the typed 'unsupported' error naming this node. */
  unsupported(why: string): never;
}

export type GradRule = (ctx: GradContext) => readonly (Value | null)[];

/**
 * A forward output a rule reuses; the sweep adds it to the forward node when the model did not ask for it.
 * `dtype` gives its type for the node's first input type, or null where the rule would rather recompute it
 * (e.g. float32 statistics of a float64 input would cost the backward its precision).
 */
export interface SavedOutput {
  readonly index: number;
  readonly dtype: (input0: DType) => DType | null;
}

export interface RuleEntry {
  readonly grad: GradRule;
  readonly saves?: readonly SavedOutput[];
}

/** The table key: domain ('' for the default ONNX domain) and op type. */
export function ruleKey(domain: string, opType: string): string {
  return `${domain === 'ai.onnx' ? '' : domain}:${opType}`;
}
