import { PeftFormatError } from './errors.js';

/**
 * What a tensor in adapter_model.safetensors is for. PEFT saves state-dict keys with the adapter name
 * ("default") removed: `base_model.model.<module>.lora_A.weight`, `...<module>.ia3_l`, `prompt_embeddings`.
 */
export type PeftRole =
  | 'lora_A'
  | 'lora_B'
  | 'lora_B_bias'
  | 'lora_embedding_A'
  | 'lora_embedding_B'
  | 'lora_magnitude_vector'
  | 'ia3_l'
  | 'prompt_embeddings'
  /** The wrapped module's own bias, saved with LoRA bias="all"/"lora_only". */
  | 'bias'
  /** A whole module weight saved through modules_to_save. */
  | 'weight';

/** The model prefix PEFT puts before every module path. */
export const PEFT_PREFIX = 'base_model.model.';

// Longest suffixes first so ".lora_A.weight" wins over ".weight".
const SUFFIXES: readonly (readonly [PeftRole, string])[] = [
  ['lora_magnitude_vector', '.lora_magnitude_vector'],
  ['lora_embedding_A', '.lora_embedding_A'],
  ['lora_embedding_B', '.lora_embedding_B'],
  ['lora_B_bias', '.lora_B.bias'],
  ['lora_A', '.lora_A.weight'],
  ['lora_B', '.lora_B.weight'],
  ['ia3_l', '.ia3_l'],
  ['bias', '.bias'],
  ['weight', '.weight'],
];

export interface PeftKey {
  /** Module path in the base model, e.g. "model.layers.0.self_attn.q_proj"; '' for prompt embeddings. */
  readonly module: string;
  readonly role: PeftRole;
}

/** Split a saved PEFT key into module path and role. */
export function parsePeftKey(key: string, file = 'adapter_model.safetensors'): PeftKey {
  if (key === 'prompt_embeddings') return { module: '', role: 'prompt_embeddings' };
  if (!key.startsWith(PEFT_PREFIX))
    throw new PeftFormatError('unknown-key', `${file}: tensor "${key}" does not start with "${PEFT_PREFIX}"`);
  const rest = key.slice(PEFT_PREFIX.length);
  for (const [role, suffix] of SUFFIXES) {
    if (rest.endsWith(suffix) && rest.length > suffix.length) {
      const module = rest.slice(0, -suffix.length);
      // An adapter name left in the key (".lora_A.default.weight") or an empty path segment means a non-PEFT writer.
      if (module.split('.').some((s) => s === '')) break;
      return { module, role };
    }
  }
  throw new PeftFormatError(
    'unknown-key',
    `${file}: tensor "${key}" is not a PEFT adapter key (expected <module>.lora_A.weight, .lora_B.weight, .ia3_l, … or prompt_embeddings)`,
  );
}

/** The saved key for a module path and role; inverse of parsePeftKey. */
export function formatPeftKey(module: string, role: PeftRole): string {
  if (role === 'prompt_embeddings') return 'prompt_embeddings';
  const suffix = SUFFIXES.find(([r]) => r === role)?.[1];
  if (suffix === undefined || module === '')
    throw new PeftFormatError('bad-key', `cannot form a PEFT key for module "${module}" and role ${role}`);
  return `${PEFT_PREFIX}${module}${suffix}`;
}
