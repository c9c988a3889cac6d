/** slmkit: define, train, load and run small language models. */
export * from './backend/backend.js';
export { disableCpuThreads, enableCpuThreads } from './backend/cpu/threads.js';
export {
  initWebGPU,
  type WebGPUBackend,
  type WebGPUOptions,
  webgpuAdapterInfo,
  webgpuAvailable,
} from './backend/webgpu/index.js';
export * from './config/layer-plan.js';
export * from './config/model-config.js';
export * from './config/validate.js';
export * from './families/index.js';
export { benchmarkDecode, type DecodeBenchOptions, type DecodeBenchResult } from './generate/bench.js';
export { DecodePlan, type DecodePlanOptions } from './generate/decode-plan.js';
export { plannedPathReason, planSupport } from './generate/decode-support.js';
export * from './generate/generate.js';
export * from './generate/sampling.js';
export * from './io/hf.js';
export * from './io/index.js';
export * from './model/kv-cache.js';
export * from './model/params.js';
export * from './model/rope.js';
export * from './model/transformer.js';
export * from './ops/index.js';
export * from './tensor/dtype.js';
export * from './tensor/random.js';
export * from './tensor/shape.js';
export * from './tensor/tensor.js';
export * from './tokenizer/index.js';

export const version = '0.1.0';
