/** CPU batched matrix multiply with broadcast batch axes and optional transposes. */
import { allocArray, type FloatArray } from '../../tensor/dtype.js';
import { broadcastStrides, sizeOf } from '../../tensor/shape.js';
import type { Kernel } from '../backend.js';
import { rowDots } from './row-dots.js';
import { parallelRowDots } from './threads.js';

export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
}

/** C[M,N] (+)= op(A) op(B) for one batch; A at offset ao, B at bo, C at co. */
function gemm(
  a: FloatArray,
  ao: number,
  b: FloatArray,
  bo: number,
  c: FloatArray,
  co: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  skipZeros: boolean,
): void {
  if (!transA && !transB) {
    // A [M,K], B [K,N]: row of C accumulates rows of B.
    for (let i = 0; i < m; i++) {
      const crow = co + i * n;
      for (let p = 0; p < k; p++) {
        const aip = a[ao + i * k + p]!;
        if (skipZeros && aip === 0) continue;
        const brow = bo + p * n;
        for (let j = 0; j < n; j++) c[crow + j]! += aip * b[brow + j]!;
      }
    }
  } else if (!transA && transB) {
    rowDots(a, ao, b, bo, c, co, m, n, k); // A [M,K], B [N,K]: dot products of rows
  } else if (transA && !transB) {
    // A [K,M], B [K,N]
    for (let p = 0; p < k; p++) {
      const brow = bo + p * n;
      for (let i = 0; i < m; i++) {
        const api = a[ao + p * m + i]!;
        if (skipZeros && api === 0) continue;
        const crow = co + i * n;
        for (let j = 0; j < n; j++) c[crow + j]! += api * b[brow + j]!;
      }
    }
  } else {
    // A [K,M], B [N,K]
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ao + p * m + i]! * b[bo + j * k + p]!;
        c[co + i * n + j] = s;
      }
    }
  }
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
  if (batches === 1 && !transA && transB && av instanceof Float32Array && bv instanceof Float32Array) {
    // A linear layer's A·Bᵀ across the cpu thread pool when it is on (bit-identical to the loop below).
    const shared = parallelRowDots(av, bv, m, n, k);
    if (shared) return [shared];
  }
  const c = allocArray(out!.dtype, sizeOf(outShape)) as FloatArray;
  // Skipping zero entries of A is exact only when B is finite (0·∞ and 0·NaN are NaN). Only the
  // paths that accumulate rows of B skip (the A·Bᵀ dot products of linear layers do not), so the scan
  // over B, a full pass over a weight matrix, runs only for them.
  let skipZeros = !transB;
  for (let i = 0; i < bv.length && skipZeros; i++) skipZeros = Number.isFinite(bv[i]!);
  const index = new Array<number>(batchShape.length).fill(0);
  for (let batch = 0; batch < batches; batch++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < batchShape.length; d++) {
      ia += index[d]! * sa[d]!;
      ib += index[d]! * sb[d]!;
    }
    gemm(av, ia * m * k, bv, ib * k * n, c, batch * m * n, m, n, k, transA, transB, skipZeros);
    for (let d = batchShape.length - 1; d >= 0; d--) {
      if (++index[d]! < batchShape[d]!) break;
      index[d] = 0;
    }
  }
  return [c];
};
