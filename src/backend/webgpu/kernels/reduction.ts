/**
 * WGSL building blocks for one-workgroup-per-row kernels: a 256-thread workgroup tree reduction (sum or
 * max) through workgroup memory, and the row-loop shape of softmax, norms and cross-entropy; and the
 * row and column sums that split long axes over many workgroups.
 */
import { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import { alloc, grid, header, runtime } from '../shader.js';

export const rowThreads = 256;

/** `reduceSum(v, lid)` and `reduceMax(v, lid)`: every thread gets the workgroup's result. */
export const workgroupReduce = /* wgsl */ `
var<workgroup> red: array<f32, ${rowThreads}>;
fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${rowThreads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${rowThreads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

/** Entry point of a row kernel: `row` is this workgroup's row, `lid` its thread. */
export const rowEntry = `@compute @workgroup_size(${rowThreads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = linearGroup(wid, nwg);
  if (row >= pu(0)) { return; }`;

/**
 * Reductions along long axes are split so that the GPU gets about this many workgroups (an H200 holds
 * ~1000 resident 256-thread workgroups): one workgroup per row, or one per 32 columns, leaves most of a
 * big GPU idle when there are few rows (a whole-tensor sum) or few columns (a bias gradient summed over
 * 8192 rows gave 24 workgroups, each looping over every row). Partial sums go to a second pass.
 */
const targetGroups = 2048;
/** Elements a row-sum workgroup takes at least (256 threads x 16). */
const minRowChunk = 4096;
/** Rows a column-sum workgroup takes at least (8 lanes x 8); also the most splits (one second pass). */
const minColumnRows = 64;

/** Row sums of a [rows, inner] matrix, each row in chunks. Words: groups, inner, chunk, chunks per row. */
const rowSumShader = `${header}${workgroupReduce}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${rowEntry}
  let inner = pu(1);
  let chunks = pu(3);
  let begin = (row % chunks) * pu(2);
  let end = min(begin + pu(2), inner);
  let base = (row / chunks) * inner;
  var s = 0.0;
  for (var j = begin + lid; j < end; j += ${rowThreads}u) { s += X[base + j]; }
  let total = reduceSum(s, lid);
  if (lid == 0u) { Y[row] = total; }
}`;

/** Sums of the `inner` consecutive values of each of `rows` rows of `x` (inner > 0). */
export function rowSum(x: GPUBuffer, rows: number, inner: number): GpuStorage {
  const chunk = Math.max(minRowChunk, Math.ceil((rows * inner) / targetGroups));
  const chunks = Math.ceil(inner / chunk);
  const partial = alloc(rows * chunks);
  const words = new Words()
    .u(rows * chunks)
    .u(inner)
    .u(Math.min(chunk, inner))
    .u(chunks);
  runtime().dispatch(rowSumShader, [x, partial.buffer], words, grid(rows * chunks));
  if (chunks === 1) return partial;
  const y = rowSum(partial.buffer, rows, chunks);
  runtime().release(partial);
  return y;
}

/**
 * A column-sum kernel: Out[split·cols + j] = Σ_r expr(r, j) over the rows r of one split of a [rows, cols]
 * layout; 32 columns x 8 row lanes per workgroup. `inputs` are the read-only f32 bindings `expr` uses.
 * Words: rows, cols, rows per split, column groups, splits.
 */
export function columnShader(inputs: readonly string[], expr: string): string {
  const bindings = inputs
    .map((name, k) => `@group(0) @binding(${k + 1}) var<storage, read> ${name}: array<f32>;`)
    .join('\n');
  return `${header}
${bindings}
@group(0) @binding(${inputs.length + 1}) var<storage, read_write> Out: array<f32>;
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let rows = pu(0); let cols = pu(1);
  let g = linearGroup(wid, nwg);
  let split = g / pu(3);
  if (split >= pu(4)) { return; }
  let j = (g % pu(3)) * 32u + l.x;
  let r0 = split * pu(2);
  let r1 = min(r0 + pu(2), rows);
  var s = 0.0;
  if (j < cols) {
    for (var r = r0 + l.y; r < r1; r += 8u) { s += ${expr}; }
  }
  part[l.y * 32u + l.x] = s;
  workgroupBarrier();
  if (l.y == 0u && j < cols) {
    var t = 0.0;
    for (var k = 0u; k < 8u; k++) { t += part[k * 32u + l.x]; }
    Out[split * cols + j] = t;
  }
}`;
}

/** Column sums of a [rows, cols] matrix. */
export const columnSumShader = columnShader(['X'], 'X[r * cols + j]');

/**
 * Runs a `columnShader` kernel over `rows` rows (> 0) and `cols` columns, into `out` when given (else a
 * new storage); when the rows are split, the partial sums [splits, cols] are summed by a second pass.
 */
export function columnReduce(
  code: string,
  inputs: readonly GPUBuffer[],
  rows: number,
  cols: number,
  out?: GpuStorage,
): GpuStorage {
  const columnGroups = Math.ceil(cols / 32);
  const perSplit = Math.max(
    minColumnRows,
    8 * Math.ceil((rows * columnGroups) / targetGroups / 8),
    8 * Math.ceil(rows / minColumnRows / 8),
  );
  const splits = Math.ceil(rows / perSplit);
  const partial = splits === 1 && out ? out : alloc(splits * cols);
  const words = new Words().u(rows).u(cols).u(perSplit).u(columnGroups).u(splits);
  runtime().dispatch(code, [...inputs, partial.buffer], words, grid(columnGroups * splits));
  if (splits === 1) return partial;
  const y = columnReduce(columnSumShader, [partial.buffer], splits, cols, out);
  runtime().release(partial);
  return y;
}
