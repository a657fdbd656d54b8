export * from './onnx/ir.js';
export * from './onnx/builder.js';
export * from './data/index.js';
