// Public API of the onnx folder: the graph IR and builder, typed op helpers, serialisation and the runtime.
export * from './ir.js';
export * from './builder.js';
export * from './dims.js';
export * from './dtypes.js';
export * as ops from './ops.js';
export { broadcastShapes, type Operand, type Shape } from './ops.js';
export * from './serialize.js';
export * from './runtime.js';
