/** CPU batched matrix multiply with broadcast batch axes and optional transposes. */
import { allocArray, type FloatArray } from '../../tensor/dtype.js';
import { broadcastStrides, sizeOf } from '../../tensor/shape.js';
import type { Kernel } from '../backend.js';
import { gemmColumns } from './row-dots.js';
import { parallelMatmul } from './threads.js';

export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
}

/**
 * Whether the row-accumulating forms may skip zero entries of A: exact only when B is finite (0·∞ and
 * 0·NaN are NaN). The A·Bᵀ forms (linear layers) do not skip, so they skip the scan, a full pass over
 * the weight.
 */
function finiteOrTransB(b: FloatArray, transB: boolean): boolean {
  if (transB) return false;
  for (let i = 0; i < b.length; i++) if (!Number.isFinite(b[i]!)) return false;
  return true;
}

export const matmulKernel: Kernel<MatmulAttrs> = ([a, b], { transA, transB }, [out]) => {
  const ar = a!.shape.length;
  const br = b!.shape.length;
  const m = transA ? a!.shape[ar - 1]! : a!.shape[ar - 2]!;
  const k = transA ? a!.shape[ar - 2]! : a!.shape[ar - 1]!;
  const n = transB ? b!.shape[br - 2]! : b!.shape[br - 1]!;
  const outShape = out!.shape;
  const batchShape = outShape.slice(0, -2);
  const batches = sizeOf(batchShape);
  const sa = broadcastStrides(a!.shape.slice(0, -2), batchShape);
  const sb = broadcastStrides(b!.shape.slice(0, -2), batchShape);
  const av = a!.storage as FloatArray;
  const bv = b!.storage as FloatArray;
  if (batches === 1 && av instanceof Float32Array && bv instanceof Float32Array) {
    // Across the cpu thread pool when it is on and the product is large (bit-identical to the loop below).
    const shared = parallelMatmul(av, bv, m, n, k, transA, transB, () => finiteOrTransB(bv, transB));
    if (shared) return [shared];
  }
  const c = allocArray(out!.dtype, sizeOf(outShape)) as FloatArray;
  const skipZeros = finiteOrTransB(bv, transB);
  const index = new Array<number>(batchShape.length).fill(0);
  for (let batch = 0; batch < batches; batch++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < batchShape.length; d++) {
      ia += index[d]! * sa[d]!;
      ib += index[d]! * sb[d]!;
    }
    gemmColumns(av, ia * m * k, bv, ib * k * n, c, batch * m * n, m, n, k, transA, transB, skipZeros);
    for (let d = batchShape.length - 1; d >= 0; d--) {
      if (++index[d]! < batchShape[d]!) break;
      index[d] = 0;
    }
  }
  return [c];
};
