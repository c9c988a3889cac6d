/** CPU data-movement kernels: permute, slice, pad (the gradient of slice) and concat. */
import { allocArray, type TypedArray } from '../../tensor/dtype.js';
import { sizeOf, stridesOf } from '../../tensor/shape.js';
import type { Kernel } from '../backend.js';

export const permuteKernel: Kernel<{ perm: number[] }> = ([x], { perm }, [out]) => {
  const xv = x!.storage as TypedArray;
  const inStrides = stridesOf(x!.shape);
  const outShape = out!.shape;
  const rank = outShape.length;
  // Stride in the input of each output axis.
  const strides = perm.map((p) => inStrides[p]!);
  const result = allocArray(out!.dtype, xv.length);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  const inner = rank > 0 ? outShape[rank - 1]! : 1;
  const innerStride = rank > 0 ? strides[rank - 1]! : 1;
  for (let o = 0; o < xv.length; o += inner) {
    for (let j = 0; j < inner; j++) result[o + j] = xv[src + j * innerStride]!;
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      src += strides[d]!;
      if (index[d]! < outShape[d]!) break;
      src -= strides[d]! * outShape[d]!;
      index[d] = 0;
    }
  }
  return [result];
};

/** Copies the block [begin, begin + size) of x. */
export const sliceKernel: Kernel<{ begin: number[] }> = ([x], { begin }, [out]) => {
  const xv = x!.storage as TypedArray;
  const result = allocArray(out!.dtype, sizeOf(out!.shape));
  copyBlock(xv, x!.shape, result, out!.shape, begin, 'read');
  return [result];
};

/** Writes x into a zero tensor of the output shape at offset `begin` (the gradient of slice). */
export const padKernel: Kernel<{ begin: number[] }> = ([x], { begin }, [out]) => {
  const xv = x!.storage as TypedArray;
  const result = allocArray(out!.dtype, sizeOf(out!.shape));
  copyBlock(result, out!.shape, xv, x!.shape, begin, 'write');
  return [result];
};

/**
 * Writes src into dst at offset `begin`, in place (no output): how preallocated KV caches take new
 * entries without reallocating.
 */
export const writeSliceKernel: Kernel<{ begin: number[] }> = ([dst, src], { begin }) => {
  copyBlock(dst!.storage as TypedArray, dst!.shape, src!.storage as TypedArray, src!.shape, begin, 'write');
  return [];
};

/** Moves a block of shape `blockShape` between `big` (at offset `begin`) and the dense `block`. */
function copyBlock(
  big: TypedArray,
  bigShape: readonly number[],
  block: TypedArray,
  blockShape: readonly number[],
  begin: number[],
  direction: 'read' | 'write',
): void {
  const rank = bigShape.length;
  if (block.length === 0) return;
  const bigStrides = stridesOf(bigShape);
  const inner = blockShape[rank - 1]!;
  const outer = block.length / inner;
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < outer; o++) {
    let src = begin[rank - 1]!;
    for (let d = 0; d < rank - 1; d++) src += (index[d]! + begin[d]!) * bigStrides[d]!;
    if (direction === 'read') block.set(big.subarray(src, src + inner), o * inner);
    else big.set(block.subarray(o * inner, (o + 1) * inner), src);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d]! < blockShape[d]!) break;
      index[d] = 0;
    }
  }
}

export const concatKernel: Kernel<{ axis: number }> = (inputs, { axis }, [out]) => {
  const outShape = out!.shape;
  const result = allocArray(out!.dtype, sizeOf(outShape));
  const outer = sizeOf(outShape.slice(0, axis));
  const outRow = sizeOf(outShape.slice(axis));
  let offset = 0;
  for (const input of inputs) {
    const xv = input.storage as TypedArray;
    const row = sizeOf(input.shape.slice(axis));
    for (let o = 0; o < outer; o++) result.set(xv.subarray(o * row, (o + 1) * row), o * outRow + offset);
    offset += row;
  }
  return [result];
};
