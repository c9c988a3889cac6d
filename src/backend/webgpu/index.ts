/** The WebGPU backend's public API. */
export { initWebGPU, type WebGPUBackend, type WebGPUOptions, webgpuKernels } from './backend.js';
export { type SubgroupMatrixConfig, webgpuAdapterInfo, webgpuAvailable } from './gpu.js';
export { encodeMatmul } from './kernels/matmul.js';
export {
  chooseF16Variant,
  describeF16Variant,
  encodeMatmulF16,
  type F16MatmulPath,
  type F16Variant,
  type FragmentGrid,
  f16Config,
  f16VariantFits,
  f16Variants,
} from './kernels/matmul-f16.js';
export type { SharedTiling } from './kernels/matmul-f16-shared.js';
export { GpuRuntime, type GpuStorage } from './runtime.js';
