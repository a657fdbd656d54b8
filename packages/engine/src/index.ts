export * from './onnx/index.js';
export * from './data/index.js';
