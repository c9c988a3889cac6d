/**
 * Reductions: sum and mean over axes, sumTo (the gradient of broadcasting), and the sum of squares of
 * a list of tensors.
 */
import { record } from '../autograd/tape.js';
import { formatShape, normalizeAxis, type Shape, shapesEqual, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from './creation.js';
import { add, affine, mul } from './elementwise.js';
import { floatDType, runKernel } from './kernel.js';
import { reshape } from './layout.js';

/** Sum over `axes` (all when omitted); `keepDims` leaves the reduced axes as size 1. */
export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const dtype = floatDType('sum', x);
  const list =
    axes === undefined
      ? x.shape.map((_, i) => i)
      : (Array.isArray(axes) ? axes : [axes]).map((a) => normalizeAxis(a, x.rank));
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  const keptShape = x.shape.map((d, i) => (sorted.includes(i) ? 1 : d));
  const outShape = keepDims ? keptShape : x.shape.filter((_, i) => !sorted.includes(i));
  const [y] = runKernel('sum', [x], { axes: sorted }, [{ shape: outShape, dtype }]);
  return record(y!, 'sum', [x], (dy) => [broadcastTo(reshape(dy, keptShape), x.shape)]);
}

/**
 * Σ over `tensors` of Σ x², a scalar: the squared global L2 norm of a list of tensors (gradient
 * clipping). One kernel call for the whole list, where sum(mul(x, x)) per tensor took three or four.
 */
export function sumSquares(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new Error('sumSquares needs at least one tensor');
  const dtype = floatDType('sumSquares', ...tensors);
  const [y] = runKernel('sumSquares', tensors, {}, [{ shape: [], dtype }]);
  return record(y!, 'sumSquares', tensors, (dy) => {
    const twice = affine(dy, 2, 0);
    return tensors.map((t) => mul(t, twice));
  });
}

export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const s = sum(x, axes, keepDims);
  return affine(s, s.size / Math.max(x.size, 1), 0);
}

/** Repeats x along its size-1 (or missing leading) axes to `shape`. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  if (!broadcastsTo(x.shape, shape)) {
    throw new Error(`cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
  }
  return add(zeros(shape, { dtype: x.dtype, backend: x.backend }), x);
}

/** Sums a broadcast result back to `shape` (the gradient of broadcasting x to a larger shape). */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const lead = x.rank - shape.length;
  if (lead < 0)
    throw new Error(`cannot sum ${formatShape(x.shape)} to the larger shape ${formatShape(shape)}`);
  if (!broadcastsTo(shape, x.shape))
    throw new Error(`cannot sum ${formatShape(x.shape)} to ${formatShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && x.shape[i] !== 1)) axes.push(i);
  }
  const s = sum(x, axes, false);
  return sizeOf(s.shape) === sizeOf(shape) ? reshape(s, shape) : s;
}

/** True when `from` broadcasts to exactly `to` (each trailing-aligned axis equal, or 1 in `from`). */
function broadcastsTo(from: Shape, to: Shape): boolean {
  const lead = to.length - from.length;
  return lead >= 0 && from.every((d, i) => d === 1 || d === to[lead + i]);
}
