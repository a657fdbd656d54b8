// GenerationConfig (proto) → the engine's generate options, and the Generate RPC: a prompt or chat messages
// through base, adapter or merged model. Shared by generation metrics so both honour the same settings.
import {
  type GenerateOptions,
  generate,
  type InferenceModel,
  loadTokenizer,
  openModel,
  streamGenerate,
  type Tokenizer,
} from '@tunemesh/engine';
import { InvalidArgumentError } from '@tunemesh/kit';
import {
  ChatRole,
  Decoding,
  FinishReason,
  type GenerateRequest,
  type GenerateResponse,
  type GenerationConfig,
  type StreamGenerateRequest,
  type StreamGenerateResponse,
} from '@tunemesh/proto';
import { type ModelPaths, resolveModel } from './models.js';

export const DEFAULT_MAX_NEW_TOKENS = 128;

/** Checks a GenerationConfig, naming the field, and returns the engine options it means. */
export function generateOptions(
  g: GenerationConfig | undefined,
  tokenizer: Tokenizer,
): Omit<GenerateOptions, 'maxNewTokens'> & { maxNewTokens: number } {
  const cfg = g ?? { decoding: Decoding.UNSPECIFIED, maxNewTokens: 0, topK: 0, stop: [] };
  const penalty = cfg.repetitionPenalty ?? 1;
  if (!(Number.isFinite(penalty) && penalty >= 1)) {
    throw new InvalidArgumentError(`repetition_penalty must be a finite number >= 1, got ${penalty}`, {
      field: 'generation.repetition_penalty',
    });
  }
  if (cfg.temperature !== undefined && !(cfg.temperature > 0)) {
    throw new InvalidArgumentError(`temperature must be > 0, got ${cfg.temperature}`, {
      field: 'generation.temperature',
    });
  }
  if (cfg.topP !== undefined && !(cfg.topP > 0 && cfg.topP <= 1)) {
    throw new InvalidArgumentError(`top_p must be in (0, 1], got ${cfg.topP}`, { field: 'generation.top_p' });
  }
  const sample = cfg.decoding === Decoding.SAMPLE;
  return {
    maxNewTokens: cfg.maxNewTokens > 0 ? cfg.maxNewTokens : DEFAULT_MAX_NEW_TOKENS,
    padId: tokenizer.padTokenId ?? 0,
    stopTokens: tokenizer.stopTokenIds,
    seed: cfg.seed ?? 42,
    // Hugging Face's rule, on the prompt's and the generated tokens, for greedy decoding and sampling alike.
    ...(penalty !== 1 && { repetitionPenalty: penalty }),
    ...(sample
      ? {
          greedy: false,
          temperature: cfg.temperature ?? 1,
          ...(cfg.topK > 0 && { topK: cfg.topK }),
          ...(cfg.topP !== undefined && { topP: cfg.topP }),
        }
      : { greedy: true }),
  };
}

/** Text cut before the earliest stop string, and whether one was found. */
export function cutAtStop(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let at = -1;
  for (const s of stops) {
    const i = s === '' ? -1 : text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
}

const ROLES: Partial<Record<ChatRole, 'system' | 'user' | 'assistant'>> = {
  [ChatRole.SYSTEM]: 'system',
  [ChatRole.USER]: 'user',
  [ChatRole.ASSISTANT]: 'assistant',
};

interface Prepared {
  readonly tokenizer: Tokenizer;
  readonly opts: ReturnType<typeof generateOptions>;
  readonly promptIds: number[];
  readonly model: InferenceModel;
  /** max_new_tokens, lowered to fit the model's positions. */
  readonly maxNewTokens: number;
  readonly clamped: boolean;
}

/** Checks the request, renders and tokenises the input, and opens the model (release it after use). */
async function prepare(req: GenerateRequest | StreamGenerateRequest, paths: ModelPaths): Promise<Prepared> {
  const input = req.input;
  if (!input) throw new InvalidArgumentError('exactly one of prompt or chat is required', { field: 'input' });
  const resolved = await resolveModel(req.model, paths);
  const tokenizer = await loadTokenizer(resolved.tokenizerDir);
  const opts = generateOptions(req.generation, tokenizer);
  let promptIds: number[];
  if (input.$case === 'prompt') {
    if (input.value === '') throw new InvalidArgumentError('prompt is empty', { field: 'prompt' });
    promptIds = tokenizer.encode(input.value);
  } else {
    const messages = input.value.messages.map((m, i) => {
      const role = ROLES[m.role];
      if (!role) throw new InvalidArgumentError(`message ${i} has no role`, { field: `chat.messages[${i}].role` });
      return { role, content: m.content };
    });
    if (messages.length === 0) throw new InvalidArgumentError('chat has no messages', { field: 'chat.messages' });
    // The template writes any BOS itself, so the rendered text is encoded without special tokens.
    const text = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    promptIds = tokenizer.encode(text, { addSpecialTokens: false });
  }
  const model = await openModel(resolved.baseDir, {
    threads: 1,
    ...(resolved.adapterDir && { adapterDir: resolved.adapterDir }),
  });
  let maxNewTokens = opts.maxNewTokens;
  let clamped = false;
  if (model.maxPositions !== undefined) {
    const room = model.maxPositions - promptIds.length;
    if (room <= 0) {
      await model.release();
      throw new InvalidArgumentError(
        `the prompt has ${promptIds.length} tokens; the model has ${model.maxPositions} positions`,
        { field: input.$case },
      );
    }
    if (room < maxNewTokens) {
      maxNewTokens = room;
      clamped = true;
    }
  }
  return { tokenizer, opts, promptIds, model, maxNewTokens, clamped };
}

function finish(p: Prepared, stopped: boolean, eos: boolean): FinishReason {
  if (stopped) return FinishReason.STOP_SEQUENCE;
  if (eos) return FinishReason.EOS;
  return p.clamped ? FinishReason.CONTEXT_LENGTH : FinishReason.LENGTH;
}

export async function generateRpc(req: GenerateRequest, paths: ModelPaths): Promise<GenerateResponse> {
  const p = await prepare(req, paths);
  try {
    const t0 = performance.now();
    const [gen] = await generate(await p.model.decoder(), [p.promptIds], { ...p.opts, maxNewTokens: p.maxNewTokens });
    const seconds = (performance.now() - t0) / 1000;
    const ids = gen?.ids ?? [];
    const cut = cutAtStop(p.tokenizer.decode(ids, { skipSpecialTokens: true }), req.generation?.stop ?? []);
    return {
      text: cut.text,
      finishReason: finish(p, cut.stopped, gen?.finishReason === 'stop'),
      promptTokens: p.promptIds.length,
      completionTokens: ids.length,
      tokensPerSecond: seconds > 0 ? ids.length / seconds : 0,
    };
  } finally {
    await p.model.release();
  }
}

/** Characters at the end of `text` that could begin a stop string: held back until the next token decides. */
function heldBack(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (s.startsWith(text.slice(text.length - k))) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

/**
 * StreamGenerate: text deltas as tokens are produced (KV cache, one decode step per token). A delta never
 * ends inside a multi-byte character (decode gives U+FFFD there) nor with the start of a stop string.
 */
export async function* streamGenerateRpc(
  req: StreamGenerateRequest,
  paths: ModelPaths,
  signal: AbortSignal,
): AsyncGenerator<StreamGenerateResponse> {
  const p = await prepare(req, paths);
  try {
    const stops = req.generation?.stop ?? [];
    const t0 = performance.now();
    const ids: number[] = [];
    let emitted = '';
    let stopped = false;
    let eos = false;
    let text = '';
    const decoder = await p.model.decoder();
    for await (const token of streamGenerate(decoder, p.promptIds, {
      ...p.opts,
      maxNewTokens: p.maxNewTokens,
      signal,
    })) {
      ids.push(token);
      eos = p.opts.stopTokens?.includes(token) ?? false;
      text = p.tokenizer.decode(ids, { skipSpecialTokens: true });
      const cut = cutAtStop(text, stops);
      if (cut.stopped) {
        text = cut.text;
        stopped = true;
        break;
      }
      let safe = text.replace(/\uFFFD+$/, '');
      safe = safe.slice(0, safe.length - heldBack(safe, stops));
      if (safe.length > emitted.length && safe.startsWith(emitted)) {
        yield { delta: safe.slice(emitted.length) };
        emitted = safe;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const rest = text.startsWith(emitted) ? text.slice(emitted.length) : '';
    yield {
      delta: rest,
      summary: {
        text,
        finishReason: finish(p, stopped, eos && !stopped),
        promptTokens: p.promptIds.length,
        completionTokens: ids.length,
        tokensPerSecond: seconds > 0 ? ids.length / seconds : 0,
      },
    };
  } finally {
    await p.model.release();
  }
}
