/**
 * slmkit for browsers (and any runtime without a file system): the engine, the model, WebGPU (through
 * `navigator.gpu`), tokenizers from parsed JSON, generation, and models loaded from fetched bytes with
 * `loadHFModelFromFiles`. Nothing here imports Node built-ins; Node users import 'slmkit'.
 *
 *   const files = { config: await (await fetch(`${url}/config.json`)).json(),
 *                   weights: await (await fetch(`${url}/model.safetensors`)).arrayBuffer() };
 *   const { model } = loadHFModelFromFiles(files, { backend: await initWebGPU() });
 */
export * from './backend/backend.js';
export { initWebGPU, webgpuAvailable } from './backend/webgpu/index.js';
export * from './config/layer-plan.js';
export * from './config/model-config.js';
export * from './config/presets.js';
export * from './config/validate.js';
export * from './families/index.js';
export * from './generate/generate.js';
export * from './generate/sampling.js';
export * from './io/half.js';
export {
  exportParameters,
  type HFModelFiles,
  importParameters,
  type LoadedHFModel,
  type LoadHFModelOptions,
  loadHFModelFromFiles,
} from './io/hf-params.js';
export { SafetensorsBuffer, ShardedReader } from './io/safetensors-buffer.js';
export * from './model/kv-cache.js';
export * from './model/params.js';
export * from './model/rope.js';
export * from './model/transformer.js';
export * from './ops/index.js';
export * from './tensor/dtype.js';
export * from './tensor/random.js';
export * from './tensor/shape.js';
export * from './tensor/tensor.js';
export { type ChatMessage, renderChatTemplate } from './tokenizer/chat-template.js';
export { Tokenizer, TokenizerError } from './tokenizer/tokenizer.js';

export const version = '0.1.0';
