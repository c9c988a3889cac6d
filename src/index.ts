/** slmkit: define, train, load and run small language models. */
export * from './backend/backend.js';
export * from './ops/index.js';
export * from './tensor/dtype.js';
export * from './tensor/random.js';
export * from './tensor/shape.js';
export * from './tensor/tensor.js';

export const version = '0.1.0';
