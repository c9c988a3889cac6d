/**
 * The CPU backend: float32 (and float64, for reference checks) kernels in plain TypeScript. Simple and
 * exact; it is the oracle every faster backend is tested against. Storage is a typed array.
 */

import { allocArray, type DType, type TypedArray } from '../../tensor/dtype.js';
import { type Backend, type Kernel, registerBackend, registerKernel, type TensorInfo } from '../backend.js';
import { affineKernel, binaryKernel, gatedKernel, unaryGradKernel, unaryKernel } from './elementwise.js';
import { flashAttentionBackwardKernel, flashAttentionKernel } from './flash-attention.js';
import { concatKernel, padKernel, permuteKernel, sliceKernel, writeSliceKernel } from './layout.js';
import { matmulKernel } from './matmul.js';
import {
  adamwKernel,
  crossEntropyBackwardKernel,
  crossEntropyKernel,
  dropoutMaskKernel,
  gatherKernel,
  layerNormBackwardKernel,
  layerNormKernel,
  rmsNormBackwardKernel,
  rmsNormKernel,
  ropeKernel,
  routeTopKKernel,
  scatterAddKernel,
} from './nn.js';
import { argmaxKernel, softmaxKernel, sumKernel, sumSquaresKernel } from './reduce.js';
import { maybeShared } from './threads.js';

export const cpuBackend: Backend = {
  name: 'cpu',
  supportsDType: () => true,
  upload: (data: TypedArray) => {
    // Shared (a thread-pool worker can read it) when threads are on and it is a large float32 array.
    const shared = maybeShared(data);
    return shared === data ? data.slice() : shared;
  },
  zeros: (size: number, dtype: DType) => allocArray(dtype, size),
  read: async (info: TensorInfo) => (info.storage as TypedArray).slice(),
  readSync: (info: TensorInfo) => (info.storage as TypedArray).slice(),
  copyInto: (dst: TensorInfo, src: TensorInfo) => (dst.storage as TypedArray).set(src.storage as TypedArray),
  free: () => {},
  sync: async () => {},
};

const kernels: Record<string, Kernel<any>> = {
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
  dropoutMask: dropoutMaskKernel,
  routeTopK: routeTopKKernel,
  adamw: adamwKernel,
  permute: permuteKernel,
  slice: sliceKernel,
  pad: padKernel,
  concat: concatKernel,
  writeSlice: writeSliceKernel,
};

registerBackend(cpuBackend);
for (const [op, kernel] of Object.entries(kernels)) registerKernel('cpu', op, kernel);

/** The kernel names every backend must provide (the backend contract's op list). */
export const coreKernelNames = Object.keys(kernels);

// Optional fused kernels: ops.attention uses them where a backend has them, else its composite path.
registerKernel('cpu', 'flashAttention', flashAttentionKernel);
registerKernel('cpu', 'flashAttentionBackward', flashAttentionBackwardKernel);
