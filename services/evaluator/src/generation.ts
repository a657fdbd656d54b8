// GenerationConfig (proto) → the engine's generate options, and the Generate RPC: a prompt or chat messages
// through base, adapter or merged model. Shared by generation metrics so both honour the same settings.
import { type GenerateOptions, generate, loadTokenizer, openModel, type Tokenizer } from '@tunemesh/engine';
import { InvalidArgumentError } from '@tunemesh/kit';
import {
  ChatRole,
  Decoding,
  FinishReason,
  type GenerateRequest,
  type GenerateResponse,
  type GenerationConfig,
} from '@tunemesh/proto';
import { type ModelPaths, resolveModel } from './models.js';

export const DEFAULT_MAX_NEW_TOKENS = 128;

/** Checks a GenerationConfig, naming the field, and returns the engine options it means. */
export function generateOptions(
  g: GenerationConfig | undefined,
  tokenizer: Tokenizer,
): Omit<GenerateOptions, 'maxNewTokens'> & { maxNewTokens: number } {
  const cfg = g ?? { decoding: Decoding.UNSPECIFIED, maxNewTokens: 0, topK: 0, stop: [] };
  if (cfg.repetitionPenalty !== undefined && cfg.repetitionPenalty !== 1) {
    // The engine's sampler has no repetition penalty yet; refusing beats silently ignoring it.
    throw new InvalidArgumentError('repetition_penalty other than 1 is not supported yet', {
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

export async function generateRpc(req: GenerateRequest, paths: ModelPaths): Promise<GenerateResponse> {
  const input = req.input;
  if (!input) throw new InvalidArgumentError('exactly one of prompt or chat is required', { field: 'input' });
  const resolved = await resolveModel(req.model, paths);
  const tokenizer = await loadTokenizer(resolved.baseDir);
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
  try {
    let maxNewTokens = opts.maxNewTokens;
    let clamped = false;
    if (model.maxPositions !== undefined) {
      const room = model.maxPositions - promptIds.length;
      if (room <= 0) {
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
    const t0 = performance.now();
    const [gen] = await generate(await model.decoder(), [promptIds], { ...opts, maxNewTokens });
    const seconds = (performance.now() - t0) / 1000;
    const ids = gen?.ids ?? [];
    const eos = gen?.finishReason === 'stop';
    const decoded = tokenizer.decode(ids, { skipSpecialTokens: true });
    const cut = cutAtStop(decoded, req.generation?.stop ?? []);
    const finishReason = cut.stopped
      ? FinishReason.STOP_SEQUENCE
      : eos
        ? FinishReason.EOS
        : clamped
          ? FinishReason.CONTEXT_LENGTH
          : FinishReason.LENGTH;
    return {
      text: cut.text,
      finishReason,
      promptTokens: promptIds.length,
      completionTokens: ids.length,
      tokensPerSecond: seconds > 0 ? ids.length / seconds : 0,
    };
  } finally {
    await model.release();
  }
}
