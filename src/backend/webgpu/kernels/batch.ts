/**
 * Batched products over broadcast batch axes: the host collapses the batch shape, and kernels turn the
 * workgroup's z index into element offsets of A and B. Parameter words 3..15: batch rank, batch shape[4],
 * A batch strides[4], B batch strides[4] (in elements).
 */

export const maxBatchRank = 4;

/** Drops size-1 batch axes and merges neighbours that are contiguous in both operands. */
export function collapseBatch(shape: number[], sa: number[], sb: number[]): [number[], number[], number[]] {
  const dims: [number, number, number][] = [];
  shape.forEach((d, i) => {
    if (d !== 1) dims.push([d, sa[i]!, sb[i]!]);
  });
  const merged: [number, number, number][] = [];
  for (const dim of dims) {
    const last = merged[merged.length - 1];
    if (last && last[1] === dim[1] * dim[0] && last[2] === dim[2] * dim[0]) {
      merged[merged.length - 1] = [last[0] * dim[0], dim[1], dim[2]];
    } else {
      merged.push(dim);
    }
  }
  return [merged.map((d) => d[0]), merged.map((d) => d[1]), merged.map((d) => d[2])];
}

/** WGSL: `aBase` and `bBase` for batch `z`. */
export const batchOffsets = (z: string) => `var rest = ${z};
  var aBase = 0u; var bBase = 0u;
  for (var d = i32(pu(3)) - 1; d >= 0; d--) {
    let dim = pu(4u + u32(d));
    let idx = rest % dim;
    rest = rest / dim;
    aBase += idx * pu(8u + u32(d));
    bBase += idx * pu(12u + u32(d));
  }`;
