// The `methods` query: each fine-tuning method, the JSON Schema of its MethodInput object and the defaults the
// trainer applies to omitted settings. Static knowledge taken from proto/tunemesh/v1/job.proto (the contract:
// "0 means 8", "Unset means 1", ...); each property names its PEFT config field in `x-peft-field`.
import type { MethodDescription, MethodKind } from './generated/resolvers-types.js';

interface Property {
  type: 'integer' | 'number' | 'boolean' | 'string' | 'array';
  peft: string;
  description: string;
  minimum?: number;
  exclusiveMaximum?: number;
  maximum?: number;
  enum?: readonly string[];
  /** The default, or undefined when it depends on the base model (described in `description`). */
  default?: unknown;
}

interface MethodSpecDoc {
  key: string;
  kind: MethodKind;
  description: string;
  properties: Record<string, Property>;
}

const strings = (peft: string, description: string): Property => ({ type: 'array', peft, description });
const dropout = (peft: string): Property => ({
  type: 'number',
  peft,
  description: 'Dropout probability.',
  minimum: 0,
  exclusiveMaximum: 1,
  default: 0,
});
const virtualTokens: Property = {
  type: 'integer',
  peft: 'num_virtual_tokens',
  description: 'Number of virtual tokens.',
  minimum: 1,
  default: 20,
};
const encoderHiddenSize: Property = {
  type: 'integer',
  peft: 'encoder_hidden_size',
  description: "Hidden size of the encoder; default: the model's hidden size.",
  minimum: 1,
};

const METHODS: readonly MethodSpecDoc[] = [
  {
    key: 'lora',
    kind: 'LORA',
    description: 'LoRA: trainable low-rank updates on linear layers (with rsLoRA and DoRA options).',
    properties: {
      r: { type: 'integer', peft: 'r', description: 'Rank of the update.', minimum: 1, default: 8 },
      alpha: { type: 'number', peft: 'lora_alpha', description: 'Scaling numerator.', minimum: 0, default: 8 },
      dropout: dropout('lora_dropout'),
      targetModules: strings(
        'target_modules',
        'Linear modules by name suffix, or ["all-linear"]; default: the architecture\'s PEFT default (BaseModel.defaultTargetModules).',
      ),
      bias: {
        type: 'string',
        peft: 'bias',
        description: 'Which biases train.',
        enum: ['NONE', 'ALL', 'LORA_ONLY'],
        default: 'NONE',
      },
      useRslora: { type: 'boolean', peft: 'use_rslora', description: 'Scale by alpha/sqrt(r).', default: false },
      useDora: { type: 'boolean', peft: 'use_dora', description: 'Weight-decomposed LoRA.', default: false },
      modulesToSave: strings('modules_to_save', 'Modules trained in full and saved with the adapter.'),
    },
  },
  {
    key: 'full',
    kind: 'FULL',
    description: 'Full fine-tuning: every weight trains.',
    properties: {
      freezeEmbeddings: {
        type: 'boolean',
        peft: 'freeze_embeddings',
        description: 'Keep token embeddings frozen.',
        default: false,
      },
    },
  },
  {
    key: 'bitfit',
    kind: 'BITFIT',
    description: 'BitFit: only bias terms train.',
    properties: {
      targetModules: strings('target_modules', 'Modules whose biases train by name suffix; default: every bias.'),
    },
  },
  {
    key: 'promptTuning',
    kind: 'PROMPT_TUNING',
    description: 'Prompt tuning: trainable virtual token embeddings before the input.',
    properties: {
      numVirtualTokens: virtualTokens,
      init: {
        type: 'string',
        peft: 'prompt_tuning_init',
        description:
          'How the virtual tokens start: RANDOM, TEXT (from initText) or SAMPLE_VOCAB; default TEXT with initText, else RANDOM.',
        enum: ['RANDOM', 'TEXT', 'SAMPLE_VOCAB'],
      },
      initText: {
        type: 'string',
        peft: 'prompt_tuning_init_text',
        description: 'Initialise the virtual tokens from this text (random when omitted).',
      },
    },
  },
  {
    key: 'pTuning',
    kind: 'P_TUNING',
    description: 'P-tuning: virtual tokens produced by a small prompt encoder.',
    properties: {
      numVirtualTokens: virtualTokens,
      encoderType: {
        type: 'string',
        peft: 'encoder_reparameterization_type',
        description: 'The prompt encoder: an MLP, or a bidirectional LSTM followed by an MLP.',
        enum: ['MLP', 'LSTM'],
        default: 'MLP',
      },
      encoderHiddenSize,
      encoderNumLayers: {
        type: 'integer',
        peft: 'encoder_num_layers',
        description: 'Number of encoder layers.',
        minimum: 1,
        default: 2,
      },
      encoderDropout: dropout('encoder_dropout'),
    },
  },
  {
    key: 'prefixTuning',
    kind: 'PREFIX_TUNING',
    description: 'Prefix tuning: trainable key/value prefixes in every attention layer.',
    properties: {
      numVirtualTokens: virtualTokens,
      prefixProjection: {
        type: 'boolean',
        peft: 'prefix_projection',
        description: 'Produce the prefixes through a projection MLP.',
        default: false,
      },
      encoderHiddenSize,
    },
  },
  {
    key: 'adapter',
    kind: 'ADAPTER',
    description: 'Adapter tuning: bottleneck MLPs after the feed-forward blocks (and after attention, Houlsby).',
    properties: {
      bottleneckSize: {
        type: 'integer',
        peft: 'bottleneck_size',
        description: 'Down-projection size.',
        minimum: 1,
        default: 64,
      },
      nonLinearity: {
        type: 'string',
        peft: 'non_linearity',
        description: 'Activation between the down- and up-projection.',
        enum: ['RELU', 'GELU', 'SILU', 'TANH'],
        default: 'RELU',
      },
      placement: {
        type: 'string',
        peft: 'mh_adapter / output_adapter',
        description:
          'SEQUENTIAL_FFN (Pfeiffer: after the feed-forward block) or SEQUENTIAL_BOTH (Houlsby: after attention too).',
        enum: ['SEQUENTIAL_FFN', 'SEQUENTIAL_BOTH'],
        default: 'SEQUENTIAL_FFN',
      },
      dropout: dropout('dropout'),
      scaling: { type: 'number', peft: 'scaling', description: "Multiplier on the adapter's output.", default: 1 },
    },
  },
  {
    key: 'ia3',
    kind: 'IA3',
    description: 'IA3: learned rescaling vectors on attention and feed-forward activations.',
    properties: {
      targetModules: strings(
        'target_modules',
        "Rescaled modules by name suffix; default: the architecture's PEFT default.",
      ),
      feedforwardModules: strings(
        'feedforward_modules',
        "The feed-forward subset of targetModules; default: the architecture's PEFT default.",
      ),
    },
  },
];

function jsonSchema(method: MethodSpecDoc): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(method.properties)) {
    const { peft, type, default: _default, ...rest } = p;
    properties[name] = {
      ...(type === 'array' ? { type: 'array', items: { type: 'string' } } : { type }),
      ...rest,
      ...(_default === undefined ? {} : { default: _default }),
      'x-peft-field': peft,
    };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `MethodInput.${method.key}`,
    type: 'object',
    additionalProperties: false,
    properties,
  };
}

function defaults(method: MethodSpecDoc): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(method.properties)
      .filter(([, p]) => p.default !== undefined)
      .map(([name, p]) => [name, p.default]),
  );
}

export const METHOD_DESCRIPTIONS: readonly MethodDescription[] = METHODS.map((m) => ({
  key: m.key,
  kind: m.kind,
  description: m.description,
  settingsSchema: jsonSchema(m),
  defaults: defaults(m),
}));
