/** The WebGPU backend's public API. */
export { initWebGPU, type WebGPUBackend, type WebGPUOptions, webgpuKernels } from './backend.js';
export { type SubgroupMatrixConfig, webgpuAvailable } from './gpu.js';
export { encodeMatmul } from './kernels/matmul.js';
export {
  encodeMatmulF16,
  type F16MatmulPath,
  type FragmentGrid,
  f16Config,
  f16MatmulPath,
} from './kernels/matmul-f16.js';
export { GpuRuntime, type GpuStorage } from './runtime.js';
