/**
 * writeSlice: copies src into dst at an offset, in place (preallocated KV caches). One thread per
 * source element; 32-bit words, so float32 and int32 alike. Shapes of rank up to 8.
 */
import { sizeOf, stridesOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import { buf, entryArgs, grid, header, runtime } from '../shader.js';

const wg = 256;
const maxRank = 8;

// Words: n (source elements), rank, source shape[8], destination strides[8], begin[8].
const writeSliceShader = `${header}
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let rank = pu(1);
  var rest = i;
  var dst = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let dim = pu(2u + u32(d));
    let idx = rest % dim;
    rest = rest / dim;
    dst += (idx + pu(${2 + 2 * maxRank}u + u32(d))) * pu(${2 + maxRank}u + u32(d));
  }
  Y[dst] = X[i];
}`;

export const writeSliceKernel: Kernel<{ begin: number[] }> = ([dst, src], { begin }) => {
  if (dst!.shape.length > maxRank)
    throw new Error(`webgpu writeSlice supports tensors up to rank ${maxRank}`);
  const n = sizeOf(src!.shape);
  if (n === 0) return [];
  const words = new Words()
    .u(n)
    .u(src!.shape.length)
    .us(src!.shape, maxRank, 1)
    .us(stridesOf(dst!.shape), maxRank)
    .us(begin, maxRank);
  runtime().dispatch(
    writeSliceShader,
    [buf(src!), (dst!.storage as GpuStorage).buffer],
    words,
    grid(Math.ceil(n / wg)),
  );
  return [];
};
