/** Creating tensors from host data, constants and random initialisers. */
import { type Backend, getBackend } from '../backend/backend.js';
import { allocArray, type DType, dtypeOfArray, type TypedArray } from '../tensor/dtype.js';
import type { Rng } from '../tensor/random.js';
import { formatShape, type Shape, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
}

/** A tensor from a typed array or nested-free number array (copied). */
export function tensor(
  values: TypedArray | readonly number[],
  shape?: Shape,
  options: CreateOptions = {},
): Tensor {
  const backend = options.backend ?? getBackend();
  let data: TypedArray;
  if (ArrayBuffer.isView(values)) {
    const dtype = options.dtype ?? dtypeOfArray(values);
    data = dtype === dtypeOfArray(values) ? values : convert(values, dtype);
  } else {
    data = allocArray(options.dtype ?? 'float32', values.length);
    data.set(values);
  }
  const finalShape = shape ?? [data.length];
  checkNew(finalShape, dtypeOfArray(data), backend);
  if (sizeOf(finalShape) !== data.length) {
    throw new Error(`${data.length} values do not fill shape ${formatShape(finalShape)}`);
  }
  return new Tensor(backend.upload(data), finalShape, dtypeOfArray(data), backend);
}

function convert(values: TypedArray, dtype: DType): TypedArray {
  const out = allocArray(dtype, values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? 'float32';
  checkNew(shape, dtype, backend);
  return new Tensor(backend.zeros(sizeOf(shape), dtype), shape, dtype, backend);
}

/** A new tensor needs a shape of non-negative integers and a dtype its backend supports. */
function checkNew(shape: Shape, dtype: DType, backend: Backend): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`shape ${formatShape(shape)} must hold non-negative integers`);
  }
  if (!backend.supportsDType(dtype)) throw new Error(`backend '${backend.name}' does not support ${dtype}`);
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  const data = allocArray(options.dtype ?? 'float32', sizeOf(shape));
  data.fill(value);
  return tensor(data, shape, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function scalar(value: number, options: CreateOptions = {}): Tensor {
  return full([], value, options);
}

/** Normal(mean, std) entries drawn from a seeded generator. */
export function randn(shape: Shape, rng: Rng, std = 1, options: CreateOptions = {}): Tensor {
  const data = allocArray(options.dtype ?? 'float32', sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
  return tensor(data, shape, options);
}

/** Uniform(low, high) entries drawn from a seeded generator. */
export function uniform(shape: Shape, rng: Rng, low = 0, high = 1, options: CreateOptions = {}): Tensor {
  const data = allocArray(options.dtype ?? 'float32', sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * rng.uniform();
  return tensor(data, shape, options);
}

/** A leaf tensor that autograd computes gradients for (a parameter). */
export function parameter(t: Tensor, name?: string): Tensor {
  t.requiresGrad = true;
  if (name) t.name = name;
  return t.keep();
}
