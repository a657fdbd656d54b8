export { DEFAULT_TINY_SIZES, TINY_ARCHS, type TinyArch, type TinySizes } from './config.js';
export { TinyModelError } from './errors.js';
export { type MakeTinyModelOptions, MIN_TINY_VOCAB, makeTinyModel, type TinyModelInfo } from './make-tiny-model.js';
export { CHATML_TEMPLATE, makeTokenizerFiles, SPECIAL_TOKENS } from './tokenizer.js';
