// Public API of the onnx folder: the graph IR and builder, typed op helpers, serialisation and the runtime.

export * from './builder.js';
export * from './dims.js';
export * from './dtypes.js';
export * from './ir.js';
export * as ops from './ops.js';
export { broadcastShapes, type Operand, type Shape } from './ops.js';
export * from './runtime.js';
export * from './serialize.js';
