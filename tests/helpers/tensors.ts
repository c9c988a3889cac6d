/** Small conveniences for tests on the cpu backend: float64 tensors from plain arrays, and host reads. */
import { tensor } from '../../src/ops/index.js';
import type { Rng } from '../../src/tensor/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';

/** A float64 cpu tensor. */
export function f64(values: readonly number[], shape?: readonly number[]): Tensor {
  return tensor(Float64Array.from(values), shape);
}

/** An int32 cpu tensor. */
export function i32(values: readonly number[], shape?: readonly number[]): Tensor {
  return tensor(Int32Array.from(values), shape);
}

/** Standard normal host values. */
export function normals(rng: Rng, size: number, scale = 1): number[] {
  return Array.from({ length: size }, () => rng.normal() * scale);
}

/** The values of a cpu tensor as a plain array. */
export function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Row-major flat index of a multi-index. */
export function flatIndex(index: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d]! + index[d]!;
  return flat;
}

/** Every multi-index of a shape, in row-major order. */
export function* indices(shape: readonly number[]): Generator<number[]> {
  const size = shape.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < size; flat++) {
    const index = new Array<number>(shape.length);
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    yield index;
  }
}
