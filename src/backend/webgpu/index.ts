/** The WebGPU backend's public API. */
export { initWebGPU, type WebGPUBackend, type WebGPUOptions, webgpuKernels } from './backend.js';
export { type SubgroupMatrixConfig, webgpuAvailable } from './gpu.js';
export { GpuRuntime, type GpuStorage } from './runtime.js';
