/** CPU reductions over axes, the sum of squares of several tensors, softmax and argmax over the last axis. */
import { allocArray, type FloatArray } from '../../tensor/dtype.js';
import { type Shape, sizeOf, stridesOf } from '../../tensor/shape.js';
import type { Kernel } from '../backend.js';

/** Σ over every input of Σ x² (a scalar): the squared L2 norm of a list of tensors, e.g. gradients. */
export const sumSquaresKernel: Kernel = (inputs, _attrs, [out]) => {
  let s = 0;
  for (const x of inputs) {
    const xv = x.storage as FloatArray;
    for (let i = 0; i < xv.length; i++) s += xv[i]! * xv[i]!;
  }
  const result = allocArray(out!.dtype, 1) as FloatArray;
  result[0] = s;
  return [result];
};

/** Sum over `axes` (sorted, non-negative); the output holds the kept axes in order. */
export const sumKernel: Kernel<{ axes: number[] }> = ([x], { axes }, [out]) => {
  const shape: Shape = x!.shape;
  const xv = x!.storage as FloatArray;
  const result = allocArray(out!.dtype, sizeOf(out!.shape)) as FloatArray;
  const rank = shape.length;
  const reduced = new Set(axes);
  // Fast paths: trailing axes (rows) and leading axes (columns).
  const trailing = axes.length > 0 && axes.every((a, i) => a === rank - axes.length + i);
  const leading = axes.length > 0 && axes.every((a, i) => a === i);
  if (trailing) {
    const inner = sizeOf(shape.slice(rank - axes.length));
    const rows = xv.length / Math.max(inner, 1);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < inner; j++) s += xv[r * inner + j]!;
      result[r] = s;
    }
    return [result];
  }
  if (leading) {
    const inner = sizeOf(shape.slice(axes.length));
    const rows = inner === 0 ? 0 : xv.length / inner;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < inner; j++) result[j]! += xv[r * inner + j]!;
    }
    return [result];
  }
  // General: map each input index to its output index (reduced axes contribute nothing).
  const keptShape = shape.filter((_, i) => !reduced.has(i));
  const keptStrides = stridesOf(keptShape);
  const outStride = new Array<number>(rank).fill(0);
  let k = 0;
  for (let i = 0; i < rank; i++) if (!reduced.has(i)) outStride[i] = keptStrides[k++]!;
  const index = new Array<number>(rank).fill(0);
  let o = 0;
  for (let i = 0; i < xv.length; i++) {
    result[o]! += xv[i]!;
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      o += outStride[d]!;
      if (index[d]! < shape[d]!) break;
      o -= outStride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return [result];
};

export const softmaxKernel: Kernel = ([x], _attrs, [out]) => {
  const xv = x!.storage as FloatArray;
  const n = x!.shape[x!.shape.length - 1]!;
  const result = allocArray(out!.dtype, xv.length) as FloatArray;
  for (let r = 0; r < xv.length; r += n) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, xv[r + j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(xv[r + j]! - max);
      result[r + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) result[r + j]! *= inv;
  }
  return [result];
};

export const argmaxKernel: Kernel = ([x], _attrs, [out]) => {
  const xv = x!.storage as FloatArray;
  const n = x!.shape[x!.shape.length - 1]!;
  const result = new Int32Array(sizeOf(out!.shape));
  for (let r = 0; r < result.length; r++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let j = 0; j < n; j++) {
      const v = xv[r * n + j]!;
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    result[r] = best;
  }
  return [result];
};
