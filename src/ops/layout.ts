/** Shape and data-movement ops: reshape (a view), permute/transpose, slice, concat, split. */
import { record } from '../autograd/tape.js';
import { formatShape, inferShape, normalizeAxis, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { runKernel } from './kernel.js';

/** Same data, new shape (one axis may be -1). Shares storage. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const target = inferShape(shape, x.size);
  const y = x.view(target);
  return record(y, 'reshape', [x], (dy) => [reshape(dy, x.shape)]);
}

/** Reorders axes: output axis i is input axis perm[i]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`permute order [${perm.join(', ')}] is not a permutation of ${x.rank} axes`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const shape = perm.map((p) => x.shape[p]!);
  const [y] = runKernel('permute', [x], { perm: [...perm] }, [{ shape, dtype: x.dtype }]);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return record(y!, 'permute', [x], (dy) => [permute(dy, inverse)]);
}

/** Swaps two axes. */
export function transpose(x: Tensor, axisA = -2, axisB = -1): Tensor {
  const a = normalizeAxis(axisA, x.rank);
  const b = normalizeAxis(axisB, x.rank);
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** The range [start, end) of one axis. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normalizeAxis(axis, x.rank);
  const dim = x.shape[a]!;
  if (start < 0 || end > dim || start > end) {
    throw new Error(`slice [${start}, ${end}) is out of range for axis ${a} of ${formatShape(x.shape)}`);
  }
  if (start === 0 && end === dim) return x;
  const begin = x.shape.map((_, i) => (i === a ? start : 0));
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const [y] = runKernel('slice', [x], { begin }, [{ shape, dtype: x.dtype }]);
  return record(y!, 'slice', [x], (dy) =>
    runKernel('pad', [dy], { begin }, [{ shape: x.shape, dtype: dy.dtype }]),
  );
}

/** Joins tensors along an axis (all other axes equal). */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new Error('concat needs at least one tensor');
  if (tensors.length === 1) return tensors[0]!;
  const first = tensors[0]!;
  const a = normalizeAxis(axis, first.rank);
  for (const t of tensors) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(
        `concat along axis ${a}: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ`,
      );
    }
    if (t.dtype !== first.dtype) throw new Error(`concat got mixed dtypes ${first.dtype} and ${t.dtype}`);
  }
  const shape = first.shape.map((d, i) => (i === a ? tensors.reduce((s, t) => s + t.shape[a]!, 0) : d));
  const [y] = runKernel('concat', tensors, { axis: a }, [{ shape, dtype: first.dtype }]);
  return record(y!, 'concat', tensors, (dy) => {
    let offset = 0;
    return tensors.map((t) => {
      const part = slice(dy, a, offset, offset + t.shape[a]!);
      offset += t.shape[a]!;
      return part;
    });
  });
}

/** Splits one axis into consecutive pieces of the given sizes. */
export function split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const a = normalizeAxis(axis, x.rank);
  const total = sizes.reduce((s, n) => s + n, 0);
  if (total !== x.shape[a]) {
    throw new Error(
      `split sizes [${sizes.join(', ')}] do not add up to axis ${a} of ${formatShape(x.shape)}`,
    );
  }
  let offset = 0;
  return sizes.map((n) => {
    const part = slice(x, a, offset, offset + n);
    offset += n;
    return part;
  });
}

/**
 * Writes `src` into `dst` in place, starting at `start` along `axis` (other axes must match). Not
 * differentiable: it fills preallocated buffers such as KV caches.
 */
export function writeSlice(dst: Tensor, src: Tensor, axis: number, start: number): void {
  const a = normalizeAxis(axis, dst.rank);
  if (src.rank !== dst.rank || src.shape.some((d, i) => i !== a && d !== dst.shape[i])) {
    throw new Error(
      `writeSlice: ${formatShape(src.shape)} does not fit ${formatShape(dst.shape)} along axis ${a}`,
    );
  }
  if (src.dtype !== dst.dtype) throw new Error(`writeSlice: dtypes differ (${dst.dtype} and ${src.dtype})`);
  if (start < 0 || start + src.shape[a]! > dst.shape[a]!) {
    throw new Error(
      `writeSlice: rows [${start}, ${start + src.shape[a]!}) do not fit axis ${a} of ${formatShape(dst.shape)}`,
    );
  }
  runKernel('writeSlice', [dst, src], { begin: dst.shape.map((_, i) => (i === a ? start : 0)) }, []);
}
