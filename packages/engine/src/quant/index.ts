// Quantized frozen base weights (QLoRA): int8 per output channel or int4 in blocks, trained through with LoRA
// and the other hooks on top.

export * from './errors.js';
export * from './graph.js';
export * from './quantize.js';
export * from './types.js';
