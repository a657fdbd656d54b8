import {
  ABSENT,
  type Attr,
  DEFAULT_OPSET,
  type Dim,
  type DType,
  type Graph,
  type Initializer,
  type Node,
  type TensorData,
  type Value,
} from './ir.js';

export class GraphBuildError extends Error {
  override readonly name = 'GraphBuildError';
}

export interface OpOptions {
  /** '' (default ONNX) or 'com.microsoft'. */
  domain?: string;
  /** Number of outputs the node produces (default 1). */
  outputs?: number;
  /** Output dtypes/shapes when known; defaults to the first input's dtype and an unknown shape. */
  dtypes?: readonly DType[];
  shapes?: readonly (readonly Dim[] | undefined)[];
  /** Explicit output names (e.g. graph outputs); generated deterministically otherwise. */
  names?: readonly string[];
}

/**
 * Writes a Graph. Names are generated from a per-builder counter and the current scope, so the same sequence
 * of calls always gives the same graph (and, through the serialiser, byte-identical ONNX).
 */
export class GraphBuilder {
  readonly opset: number;
  private readonly nodes: Node[] = [];
  private readonly inits: Initializer[] = [];
  private readonly inputs: Value[] = [];
  private readonly outputs: Value[] = [];
  private readonly values = new Map<string, Value>();
  private readonly scopes: string[] = [];
  private counter = 0;

  constructor(
    readonly name: string,
    opts: { opset?: number } = {},
  ) {
    this.opset = opts.opset ?? DEFAULT_OPSET;
  }

  /** Runs `fn` with `name` prepended to generated node and value names (e.g. 'layers.3.attn'). */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private fresh(base: string): string {
    const prefix = this.scopes.length > 0 ? `${this.scopes.join('/')}/` : '';
    return `${prefix}${base}_${this.counter++}`;
  }

  private declare(v: Value): Value {
    if (this.values.has(v.name)) throw new GraphBuildError(`value '${v.name}' is defined twice`);
    this.values.set(v.name, v);
    return v;
  }

  /** A graph input fed at run time. */
  input(name: string, dtype: DType, shape: readonly Dim[]): Value {
    const v = this.declare({ name, dtype, shape: [...shape] });
    this.inputs.push(v);
    return v;
  }

  /** A named initialiser (weights). Trainable ones are what the autodiff differentiates. */
  initializer(name: string, tensor: TensorData, opts: { trainable?: boolean } = {}): Value {
    checkTensor(name, tensor);
    const v = this.declare({ name, dtype: tensor.dtype, shape: [...tensor.dims] });
    this.inits.push({ name, tensor, trainable: opts.trainable ?? false });
    return v;
  }

  /** An anonymous constant stored as an initialiser (small tensors: shapes, scalars, axes). */
  constant(tensor: TensorData, hint = 'const'): Value {
    return this.initializer(this.fresh(hint), tensor);
  }

  /** Marks a value as a graph output, under `name` when given (an Identity renames it). */
  output(value: Value, name?: string): Value {
    let out = value;
    if (name !== undefined && name !== value.name) {
      [out] = this.op('Identity', [value], {}, { names: [name], dtypes: [value.dtype], shapes: [value.shape] }) as [
        Value,
      ];
    }
    this.outputs.push(out);
    return out;
  }

  /** Adds one node and returns its outputs. `null` inputs are omitted optional inputs. */
  op(
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, Attr> = {},
    opts: OpOptions = {},
  ): Value[] {
    for (const v of inputs) {
      if (v !== null && !this.values.has(v.name)) {
        throw new GraphBuildError(`${opType}: input '${v.name}' is not defined in graph '${this.name}'`);
      }
    }
    const n = opts.outputs ?? 1;
    const nodeName = this.fresh(opType);
    const first = inputs.find((v): v is Value => v !== null);
    const outs: Value[] = [];
    for (let i = 0; i < n; i++) {
      const dtype = opts.dtypes?.[i] ?? first?.dtype;
      if (dtype === undefined) throw new GraphBuildError(`${opType}: output ${i} has no dtype`);
      const name = opts.names?.[i] ?? (n === 1 ? nodeName : `${nodeName}.${i}`);
      const shape = opts.shapes?.[i];
      outs.push(this.declare({ name, dtype, shape: shape === undefined ? undefined : [...shape] }));
    }
    this.nodes.push({
      name: nodeName,
      opType,
      domain: opts.domain ?? '',
      inputs: inputs.map((v) => (v === null ? ABSENT : v.name)),
      outputs: outs.map((v) => v.name),
      attrs: { ...attrs },
    });
    return outs;
  }

  /** Single-output shorthand for op(). */
  op1(
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, Attr> = {},
    opts: OpOptions = {},
  ): Value {
    const [v] = this.op(opType, inputs, attrs, { ...opts, outputs: 1 });
    return v as Value;
  }

  /** Looks up a value by name (for extensions that receive names, e.g. the autodiff). */
  value(name: string): Value {
    const v = this.values.get(name);
    if (v === undefined) throw new GraphBuildError(`unknown value '${name}'`);
    return v;
  }

  build(): Graph {
    return {
      name: this.name,
      opset: this.opset,
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      nodes: [...this.nodes],
      initializers: [...this.inits],
      values: new Map(this.values),
    };
  }

  /**
   * Continues building on top of an existing graph (the autodiff appends its backward nodes this way).
   * Generated names carry `prefix` so they cannot collide with the forward graph's.
   */
  static extend(graph: Graph, prefix: string): GraphBuilder {
    const b = new GraphBuilder(graph.name, { opset: graph.opset });
    for (const [k, v] of graph.values) b.values.set(k, v);
    b.nodes.push(...graph.nodes);
    b.inits.push(...graph.initializers);
    b.inputs.push(...graph.inputs);
    b.outputs.push(...graph.outputs);
    b.scopes.push(prefix);
    return b;
  }
}

function checkTensor(name: string, t: TensorData): void {
  let n = 1;
  for (const d of t.dims) {
    if (!Number.isInteger(d) || d < 0) throw new GraphBuildError(`initialiser '${name}': bad dimension ${d}`);
    n *= d;
  }
  if (t.data.length !== n) {
    throw new GraphBuildError(`initialiser '${name}': ${t.data.length} elements for dims [${t.dims.join(', ')}]`);
  }
}
