export * from './onnx/index.js';
export * from './data/index.js';
export * from './infer/index.js';
export * from './tiny/index.js';
export * from './models/index.js';
export * from './autodiff/index.js';
export * from './io/index.js';
export * from './report/index.js';
