/** dropoutMask: the counter-based inverted-dropout mask of src/backend/cpu/nn.ts, bit for bit. */
import { sizeOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import type { DropoutMaskAttrs } from '../../cpu/nn.js';
import { Words } from '../params.js';
import { alloc, entryArgs, grid, header, runtime } from '../shader.js';

const wg = 256;

// Words: n, seed, p, keep scale.
const dropoutShader = `${header}
@group(0) @binding(1) var<storage, read_write> M: array<f32>;
fn fmix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  h ^= h >> 16u;
  return h;
}
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let u = f32(fmix32(i + fmix32(pu(1))) >> 8u) / 16777216.0;
  M[i] = select(0.0, pf(3), u >= pf(2));
}`;

export const dropoutMaskKernel: Kernel<DropoutMaskAttrs> = ([x], { p, seed }) => {
  const n = sizeOf(x!.shape);
  const mask = alloc(n);
  const words = new Words()
    .u(n)
    .u(seed >>> 0)
    .f(p)
    .f(1 / (1 - p));
  runtime().dispatch(dropoutShader, [mask.buffer], words, grid(Math.ceil(n / wg)));
  return [mask];
};
