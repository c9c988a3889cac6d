/**
 * Data movement: permute, slice, pad (the gradient of slice) and concat. They copy 32-bit words, so one
 * kernel serves float32 and int32. Shapes of rank up to 8.
 */
import { type Shape, sizeOf, stridesOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import { alloc, buf, entryArgs, grid, header, runtime } from '../shader.js';

const wg = 256;
const maxRank = 8;

function checkRank(op: string, rank: number): void {
  if (rank > maxRank)
    throw new Error(`webgpu ${op} supports tensors up to rank ${maxRank}, got rank ${rank}`);
}

/**
 * A copy kernel: for each output index i below word 0, `body` computes `src` (and may `return` to write
 * zero) from the multi-index `idx(d)` of i over the shape at words 2.. (rank at word 1).
 */
function copyShader(body: string): string {
  return `${header}
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let rank = pu(1);
  var rest = i;
  var src = 0u;
  var inside = true;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = pu(2u + u32(d));
    let idx = rest % dim;
    rest = rest / dim;
    ${body}
  }
  Y[i] = select(0u, X[src], inside);
}`;
}

// Words: n, rank, outShape[8], input stride of each output axis[8].
const permuteShader = copyShader(`src += idx * pu(${2 + maxRank}u + u32(d));`);

/** x permuted (output axis i is input axis perm[i]) into a new storage. */
export function permuteStorage(x: GpuStorage, shape: Shape, perm: readonly number[]): GpuStorage {
  checkRank('permute', shape.length);
  const n = sizeOf(shape);
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]!);
  const words = new Words()
    .u(n)
    .u(shape.length)
    .us(outShape, maxRank, 1)
    .us(
      perm.map((p) => inStrides[p]!),
      maxRank,
    );
  const y = alloc(n);
  runtime().dispatch(permuteShader, [x.buffer, y.buffer], words, grid(Math.ceil(n / wg)));
  return y;
}

export const permuteKernel: Kernel<{ perm: number[] }> = ([x], { perm }) => [
  permuteStorage(x!.storage as GpuStorage, x!.shape, perm),
];

// Words: n, rank, block shape[8], big strides[8], begin[8].
const sliceShader = copyShader(
  `src += (idx + pu(${2 + 2 * maxRank}u + u32(d))) * pu(${2 + maxRank}u + u32(d));`,
);

export const sliceKernel: Kernel<{ begin: number[] }> = ([x], { begin }, [out]) => {
  checkRank('slice', x!.shape.length);
  const n = sizeOf(out!.shape);
  const words = new Words()
    .u(n)
    .u(out!.shape.length)
    .us(out!.shape, maxRank, 1)
    .us(stridesOf(x!.shape), maxRank)
    .us(begin, maxRank);
  const y = alloc(n);
  runtime().dispatch(sliceShader, [buf(x!), y.buffer], words, grid(Math.ceil(n / wg)));
  return [y];
};

// Words: n, rank, big shape[8], block strides[8], begin[8], block shape[8].
const padShader = copyShader(`let b = pu(${2 + 2 * maxRank}u + u32(d));
    let local = idx - b;
    inside = inside && idx >= b && local < pu(${2 + 3 * maxRank}u + u32(d));
    src += local * pu(${2 + maxRank}u + u32(d));`);

export const padKernel: Kernel<{ begin: number[] }> = ([x], { begin }, [out]) => {
  checkRank('pad', x!.shape.length);
  const n = sizeOf(out!.shape);
  const words = new Words()
    .u(n)
    .u(out!.shape.length)
    .us(out!.shape, maxRank, 1)
    .us(stridesOf(x!.shape), maxRank)
    .us(begin, maxRank)
    .us(x!.shape, maxRank, 1);
  const y = alloc(n);
  runtime().dispatch(padShader, [buf(x!), y.buffer], words, grid(Math.ceil(n / wg)));
  return [y];
};

// Words: n (input elements), row (input row length), outRow, offset.
const concatShader = `${header}
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let row = pu(1);
  Y[(i / row) * pu(2) + pu(3) + i % row] = X[i];
}`;

export const concatKernel: Kernel<{ axis: number }> = (inputs, { axis }, [out]) => {
  const outShape = out!.shape;
  const y = alloc(sizeOf(outShape));
  const outRow = sizeOf(outShape.slice(axis));
  let offset = 0;
  for (const input of inputs) {
    const n = sizeOf(input.shape);
    const row = sizeOf(input.shape.slice(axis));
    if (n > 0) {
      const words = new Words().u(n).u(row).u(outRow).u(offset);
      runtime().dispatch(concatShader, [buf(input), y.buffer], words, grid(Math.ceil(n / wg)));
    }
    offset += row;
  }
  return [y];
};
