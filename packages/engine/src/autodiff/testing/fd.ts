// Finite-difference check of gradient graphs (test support; not part of the public API). For one op row: a
// scalar loss L = Σ_k Σ (out_k ⊙ w_k) with fixed random weights w_k (so every output element matters), the
// vector-Jacobian product from the gradient graph, ⟨∇L, v⟩ for a random direction v, is compared with the
// float64 central difference (L(θ + εv) − L(θ − εv)) / 2ε. Rows whose op onnxruntime only runs in float32
// differentiate the float32 graph and take the finite difference of a float64 reference composition.

import { seededRandom } from '../../data/batches.js';
import { GraphBuilder } from '../../onnx/builder.js';
import type { DType, TensorData, Value } from '../../onnx/ir.js';
import * as ops from '../../onnx/ops.js';
import { runGraph } from '../../onnx/runtime.js';
import { buildGradientGraph } from '../sweep.js';

export type Rng = () => number;

/** The engine's seeded uniform generator (data/batches.ts), under the name the gradient tests use. */
export const rng: (seed: number) => Rng = seededRandom;

export function normal(r: Rng): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface Param {
  readonly shape: readonly number[];
  /** Explicit values (extreme-value rows); otherwise drawn from `init`. */
  readonly values?: readonly number[];
  /** normal: N(0,1); positive: U(0.5, 2); signed: ±U(0.5, 2) (away from kinks and poles). */
  readonly init?: 'normal' | 'positive' | 'signed';
}

export type Build = (b: GraphBuilder, p: Readonly<Record<string, Value>>, r: Rng) => Value | readonly Value[];

export interface Row {
  readonly name: string;
  readonly params: Readonly<Record<string, Param>>;
  readonly build: Build;
  /** dtype the op runs in (default float64). */
  readonly dtype?: 'float32' | 'float64';
  /** float64 composition computing the same function, for float32 rows. */
  readonly reference?: Build;
  /** Relative tolerance of the VJP against the finite difference. */
  readonly tol?: number;
  readonly eps?: number;
}

export interface FdResult {
  readonly analytic: number;
  readonly numeric: number;
  readonly relError: number;
  readonly lossOp: number;
  readonly lossRef: number;
}

function tensor(dtype: 'float32' | 'float64', dims: readonly number[], values: readonly number[]): TensorData {
  return { dtype, dims, data: dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values) };
}

function draw(p: Param, r: Rng): number[] {
  if (p.values !== undefined) return [...p.values];
  const n = p.shape.reduce((a, d) => a * d, 1);
  return Array.from({ length: n }, () => {
    if (p.init === 'positive') return 0.5 + 1.5 * r();
    if (p.init === 'signed') return (r() < 0.5 ? -1 : 1) * (0.5 + 1.5 * r());
    return normal(r);
  });
}

function asList(v: Value | readonly Value[]): readonly Value[] {
  return Array.isArray(v) ? (v as readonly Value[]) : [v as Value];
}

/** Builds row outputs; with `weights`, adds w_k inputs and the scalar 'loss' output instead. */
function lossGraph(
  row: Row,
  dtype: DType,
  asInputs: boolean,
  values: Readonly<Record<string, number[]>>,
  weights: readonly TensorData[] | undefined,
  build: Build,
): ReturnType<GraphBuilder['build']> {
  const b = new GraphBuilder(`fd:${row.name}`);
  const p: Record<string, Value> = {};
  for (const [name, param] of Object.entries(row.params)) {
    p[name] = asInputs
      ? b.input(name, dtype, param.shape)
      : b.initializer(name, tensor(dtype as 'float32' | 'float64', param.shape, values[name] as number[]), {
          trainable: true,
        });
  }
  const outs = asList(build(b, p, rng(hash(row.name) ^ 0x5eed)));
  if (weights === undefined) {
    outs.forEach((o, k) => {
      b.output(o, `out${k}`);
    });
    return b.build();
  }
  let loss: Value | undefined;
  outs.forEach((o, k) => {
    const w = weights[k] as TensorData;
    const term = ops.reduceSum(b, ops.mul(b, o, b.input(`w${k}`, o.dtype, w.dims)), [], false);
    const t64 = term.dtype === 'float64' ? term : ops.cast(b, term, 'float64');
    loss = loss === undefined ? t64 : ops.add(b, loss, t64);
  });
  b.output(loss as Value, 'loss');
  return b.build();
}

function castData(t: TensorData, dtype: DType): TensorData {
  if (t.dtype === dtype) return t;
  const vals = Array.from(t.data as Float64Array);
  return tensor(dtype as 'float32' | 'float64', t.dims, vals);
}

function scalarOf(t: TensorData | undefined): number {
  if (t === undefined) throw new Error('missing output');
  return Number(t.data[0]);
}

/** Runs the check for one row and returns the two directional derivatives. */
export async function checkRow(row: Row): Promise<FdResult> {
  const dtype = row.dtype ?? 'float64';
  const r = rng(hash(row.name));
  const values: Record<string, number[]> = {};
  for (const [name, param] of Object.entries(row.params)) values[name] = draw(param, r);
  const refBuild = row.reference ?? row.build;

  const feeds64 = (vals: Readonly<Record<string, number[]>>): Record<string, TensorData> =>
    Object.fromEntries(
      Object.entries(row.params).map(([n, p]) => [n, tensor('float64', p.shape, vals[n] as number[])]),
    );

  // Output shapes (and dtypes) from a plain forward run, to size the loss weights.
  const shapesRun = await runGraph(lossGraph(row, 'float64', true, values, undefined, refBuild), feeds64(values));
  const weights: TensorData[] = [];
  for (let k = 0; `out${k}` in shapesRun; k++) {
    const o = shapesRun[`out${k}`] as TensorData;
    const n = o.dims.reduce((a, d) => a * d, 1);
    weights.push(
      tensor(
        'float64',
        o.dims,
        Array.from({ length: n }, () => normal(r)),
      ),
    );
  }

  const forward = lossGraph(row, dtype, false, values, weights, row.build);
  const wrt = Object.keys(row.params);
  const { graph, gradients } = buildGradientGraph(forward, { loss: 'loss', wrt });
  const wFeeds = (g: ReturnType<GraphBuilder['build']>): Record<string, TensorData> =>
    Object.fromEntries(
      weights.map((w, k) => {
        const input = g.inputs.find((v) => v.name === `w${k}`);
        return [`w${k}`, castData(w, input?.dtype ?? 'float64')];
      }),
    );
  const paramFeeds = Object.fromEntries(
    Object.entries(row.params).map(([n, p]) => [n, tensor(dtype, p.shape, values[n] as number[])]),
  );
  const trained = await runGraph(graph, { ...paramFeeds, ...wFeeds(graph) }, ['loss', ...Object.values(gradients)]);

  const dir: Record<string, number[]> = {};
  for (const [n, p] of Object.entries(row.params)) dir[n] = draw({ shape: p.shape }, r);
  let analytic = 0;
  for (const n of wrt) {
    const g = trained[gradients[n] as string] as TensorData;
    const v = dir[n] as number[];
    v.forEach((d, i) => {
      analytic += d * Number(g.data[i]);
    });
  }

  const ref = lossGraph(row, 'float64', true, values, weights, refBuild);
  const eps = row.eps ?? 1e-6;
  const shifted = (s: number): Record<string, number[]> =>
    Object.fromEntries(
      wrt.map((n) => [n, (values[n] as number[]).map((x, i) => x + s * ((dir[n] as number[])[i] as number))]),
    );
  const lossAt = async (vals: Record<string, number[]>): Promise<number> =>
    scalarOf((await runGraph(ref, { ...feeds64(vals), ...wFeeds(ref) }, ['loss'])).loss);
  const [lp, lm, l0] = [await lossAt(shifted(eps)), await lossAt(shifted(-eps)), await lossAt(values)];
  const numeric = (lp - lm) / (2 * eps);
  const relError = Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), 1e-30);
  return { analytic, numeric, relError, lossOp: scalarOf(trained.loss), lossRef: l0 };
}
