// One sequence generated token by token over the decode graph's KV cache, yielding each token as it is
// chosen, for streaming to a client. Same feeds, sampling and rng use as infer/generate with a batch of one, so
// the tokens equal generate()'s for the same options.
import { int64Tensor } from '../infer/batch.js';
import { InferError } from '../infer/errors.js';
import type { GenerateOptions } from '../infer/generate.js';
import { createRng } from '../infer/rng.js';
import { isGreedy, selectToken, validateSampling } from '../infer/sampling.js';
import {
  type DecoderModel,
  floatOutput,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
} from '../infer/session.js';
import type { TensorData } from '../onnx/ir.js';

export async function* streamGenerate(
  model: DecoderModel,
  prompt: readonly number[],
  opts: GenerateOptions & { signal?: AbortSignal },
): AsyncGenerator<number> {
  if (prompt.length === 0) throw new InferError('empty_prompt', 'the prompt has no tokens');
  if (!(Number.isInteger(opts.maxNewTokens) && opts.maxNewTokens >= 1)) {
    throw new InferError('bad_max_new_tokens', `max new tokens must be an integer >= 1, got ${opts.maxNewTokens}`);
  }
  validateSampling(opts);
  const rng = isGreedy(opts) ? undefined : createRng(opts.seed ?? 0);
  const stop = new Set(opts.stopTokens ?? []);
  const fetch = ['logits'];
  for (let l = 0; l < model.layers; l++) fetch.push(presentKeyName(l), presentValueName(l));
  let past: Record<string, TensorData> = {};
  const empty = (): TensorData =>
    model.kvDtype === 'float32'
      ? { dtype: 'float32', dims: [1, model.kvHeads, 0, model.headDim], data: new Float32Array(0) }
      : { dtype: 'float16', dims: [1, model.kvHeads, 0, model.headDim], data: new Uint16Array(0) };
  for (let l = 0; l < model.layers; l++) {
    past[pastKeyName(l)] = empty();
    past[pastValueName(l)] = empty();
  }
  let ids = BigInt64Array.from(prompt.map(BigInt));
  // The ids already in the sequence, for the repetition penalty (as generate() keeps them).
  const present = new Set((opts.repetitionPenalty ?? 1) !== 1 ? prompt : []);
  let pos = 0;
  for (let step = 0; step < opts.maxNewTokens; step++) {
    opts.signal?.throwIfAborted();
    const total = pos + ids.length;
    const out = await model.session.run(
      {
        input_ids: int64Tensor(ids, [1, ids.length]),
        attention_mask: int64Tensor(new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: int64Tensor(
          BigInt64Array.from(ids, (_, i) => BigInt(pos + i)),
          [1, ids.length],
        ),
        ...past,
      },
      fetch,
    );
    const logits = floatOutput(out, 'logits');
    const vocab = logits.dims[2] as number;
    const token = selectToken(logits.data.subarray((ids.length - 1) * vocab, ids.length * vocab), opts, rng, present);
    present.add(token);
    yield token;
    if (stop.has(token)) return;
    const next: Record<string, TensorData> = {};
    for (let l = 0; l < model.layers; l++) {
      const k = out[presentKeyName(l)];
      const v = out[presentValueName(l)];
      if (!k || !v) throw new InferError('bad_model_output', `the decode graph returned no present.${l} cache`);
      next[pastKeyName(l)] = k;
      next[pastValueName(l)] = v;
    }
    past = next;
    pos = total;
    ids = BigInt64Array.of(BigInt(token));
  }
}
