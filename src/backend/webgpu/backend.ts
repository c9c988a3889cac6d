/// <reference types="@webgpu/types" />
/**
 * The 'webgpu' backend: float32 and int32 tensors in GPU buffers, every kernel of the contract
 * (coreKernelNames in ../cpu/index.ts) as WGSL. Kernels only encode work; `read` and `sync` submit it.
 */
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { sizeOf } from '../../tensor/shape.js';
import { type Backend, type Kernel, registerBackend, registerKernel, type TensorInfo } from '../backend.js';
import { getAdapter, requestDevice, type SubgroupMatrixConfig, subgroupMatrixConfigs } from './gpu.js';
import { dropoutMaskKernel } from './kernels/dropout.js';
import {
  affineKernel,
  binaryKernel,
  gatedKernel,
  unaryGradKernel,
  unaryKernel,
} from './kernels/elementwise.js';
import { flashAttentionKernel } from './kernels/flash-attention.js';
import { flashAttentionBackwardKernel } from './kernels/flash-attention-backward.js';
import { concatKernel, padKernel, permuteKernel, sliceKernel } from './kernels/layout.js';
import { matmulKernel } from './kernels/matmul.js';
import {
  adamwKernel,
  crossEntropyBackwardKernel,
  crossEntropyKernel,
  gatherKernel,
  ropeKernel,
  scatterAddKernel,
} from './kernels/nn.js';
import {
  layerNormBackwardKernel,
  layerNormKernel,
  rmsNormBackwardKernel,
  rmsNormKernel,
} from './kernels/norms.js';
import { argmaxKernel, softmaxKernel, sumKernel, sumSquaresKernel } from './kernels/reduce.js';
import { routeTopKKernel } from './kernels/route.js';
import { writeSliceKernel } from './kernels/write-slice.js';
import { GpuRuntime, type GpuStorage } from './runtime.js';
import { setRuntime } from './shader.js';

export const webgpuKernels: Record<string, Kernel<any>> = {
  unary: unaryKernel,
  unaryGrad: unaryGradKernel,
  gated: gatedKernel,
  binary: binaryKernel,
  affine: affineKernel,
  matmul: matmulKernel,
  sum: sumKernel,
  sumSquares: sumSquaresKernel,
  softmax: softmaxKernel,
  argmax: argmaxKernel,
  crossEntropy: crossEntropyKernel,
  crossEntropyBackward: crossEntropyBackwardKernel,
  gather: gatherKernel,
  scatterAdd: scatterAddKernel,
  rmsNorm: rmsNormKernel,
  rmsNormBackward: rmsNormBackwardKernel,
  layerNorm: layerNormKernel,
  layerNormBackward: layerNormBackwardKernel,
  rope: ropeKernel,
  adamw: adamwKernel,
  permute: permuteKernel,
  slice: sliceKernel,
  pad: padKernel,
  concat: concatKernel,
  writeSlice: writeSliceKernel,
  routeTopK: routeTopKKernel,
  flashAttention: flashAttentionKernel,
  flashAttentionBackward: flashAttentionBackwardKernel,
  dropoutMask: dropoutMaskKernel,
};

export interface WebGPUBackend extends Backend {
  readonly runtime: GpuRuntime;
  readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  readonly subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
}

function storageOf(info: TensorInfo): GpuStorage {
  return info.storage as GpuStorage;
}

function makeBackend(runtime: GpuRuntime, adapter: GPUAdapter): WebGPUBackend {
  const { vendor, architecture, device, description } = adapter.info;
  return {
    name: 'webgpu',
    runtime,
    adapterInfo: { vendor, architecture, device, description },
    subgroupMatrixConfigs: subgroupMatrixConfigs(adapter),
    supportsDType: (dtype: DType) => dtype === 'float32' || dtype === 'int32',
    upload(data: TypedArray) {
      if (data instanceof Float64Array) throw new Error("backend 'webgpu' does not support float64");
      return runtime.upload(data);
    },
    zeros(size: number, dtype: DType) {
      if (dtype === 'float64') throw new Error("backend 'webgpu' does not support float64");
      const storage = runtime.alloc(size * 4);
      runtime.clear(storage);
      return storage;
    },
    async read(info: TensorInfo) {
      const n = sizeOf(info.shape);
      if (storageOf(info).format === 'bf16') {
        const words = new Uint32Array(await runtime.read(storageOf(info), Math.ceil(n / 2) * 4));
        const out = new Uint32Array(n);
        for (let i = 0; i < n; i++) {
          const w = words[i >> 1]!;
          out[i] = i & 1 ? w & 0xffff0000 : (w << 16) >>> 0;
        }
        return new Float32Array(out.buffer);
      }
      const bytes = await runtime.read(storageOf(info), n * 4);
      return info.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
    },
    copyInto(dst: TensorInfo, src: TensorInfo) {
      const packed = storageOf(src).format === 'bf16';
      if (packed !== (storageOf(dst).format === 'bf16'))
        throw new Error('cannot copy between a bf16-packed tensor and a float32 one');
      const n = sizeOf(src.shape);
      runtime.copy(storageOf(src).buffer, storageOf(dst).buffer, packed ? Math.ceil(n / 2) * 4 : n * 4);
    },
    free(storage: unknown) {
      runtime.release(storage as GpuStorage);
    },
    sync: () => runtime.sync(),
  };
}

export interface WebGPUOptions {
  powerPreference?: GPUPowerPreference;
  /** Make 'webgpu' the default backend for new tensors (default true). */
  makeDefault?: boolean;
}

let instance: Promise<WebGPUBackend> | null = null;

/**
 * Requests the adapter and device (with shader-f16, subgroups, timestamp queries and subgroup matrices
 * where present, and the adapter's buffer limits), registers the 'webgpu' backend and its kernels, and
 * returns it. Throws when no adapter exists. Later calls return the same backend.
 */
export function initWebGPU(options: WebGPUOptions = {}): Promise<WebGPUBackend> {
  instance ??= (async () => {
    const adapter = await getAdapter(options.powerPreference);
    if (!adapter) throw new Error('WebGPU is not available: no adapter was found');
    const device = await requestDevice(adapter);
    const runtime = new GpuRuntime(device, {
      subgroupMatrixConfigs: subgroupMatrixConfigs(adapter),
      subgroupMaxSize: (adapter.info as unknown as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
      subgroupMinSize: (adapter.info as unknown as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
    });
    setRuntime(runtime);
    const backend = makeBackend(runtime, adapter);
    registerBackend(backend);
    for (const [op, kernel] of Object.entries(webgpuKernels)) registerKernel('webgpu', op, kernel);
    return backend;
  })().catch((error) => {
    instance = null;
    throw error;
  });
  const ready = instance;
  return ready.then(async (backend) => {
    if (options.makeDefault ?? true) {
      const { setBackend } = await import('../backend.js');
      setBackend('webgpu');
    }
    return backend;
  });
}
