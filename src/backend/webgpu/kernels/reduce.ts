/**
 * Reductions: sum over axes (rows, columns, or any axes after a permute), the sum of squares of several
 * tensors, softmax and argmax over rows.
 */
import { sizeOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import { alloc, buf, grid, header, memoShader, runtime } from '../shader.js';
import { permuteStorage } from './layout.js';
import {
  columnReduce,
  columnSumShader,
  rowEntry,
  rowSum as rowSumSplit,
  rowThreads,
  workgroupReduce,
} from './reduction.js';

function rowSum(x: GpuStorage, rows: number, inner: number): GpuStorage {
  if (inner > 0 && rows > 0) return rowSumSplit(x.buffer, rows, inner);
  const y = alloc(rows);
  runtime().clear(y);
  return y;
}

export function columnSum(x: GPUBuffer, rows: number, cols: number): GpuStorage {
  return columnReduce(columnSumShader, [x], rows, cols);
}

/** Sum over `axes` (sorted, non-negative); the output holds the kept axes in order. */
export const sumKernel: Kernel<{ axes: number[] }> = ([x], { axes }, [out]) => {
  const shape = x!.shape;
  const rank = shape.length;
  const outSize = sizeOf(out!.shape);
  const storage = x!.storage as GpuStorage;
  if (axes.length === 0) {
    const y = alloc(outSize);
    runtime().copy(storage.buffer, y.buffer, outSize * 4);
    return [y];
  }
  const trailing = axes.every((a, i) => a === rank - axes.length + i);
  const leading = axes.every((a, i) => a === i);
  if (trailing) return [rowSum(storage, outSize, sizeOf(shape.slice(rank - axes.length)))];
  if (leading) {
    const rows = sizeOf(shape.slice(0, axes.length));
    if (rows === 0) {
      const y = alloc(outSize);
      runtime().clear(y);
      return [y];
    }
    return [columnSum(storage.buffer, rows, outSize)];
  }
  // Move the reduced axes last, then sum rows.
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const moved = permuteStorage(storage, shape, perm);
  const y = rowSum(moved, outSize, sizeOf(axes.map((a) => shape[a]!)));
  runtime().release(moved);
  return [y];
};

/** Elements per workgroup of sumSquares (256 threads x 16). */
const squaresChunk = 4096;

/**
 * Partial sums of squares of `count` tensors, one workgroup per chunk of one tensor, into Partial at an
 * offset. Words: 0 chunks in this dispatch, 1 output offset, 2.. sizes[count], 2 + count.. first chunk
 * of each tensor[count].
 */
function sumSquaresShader(count: number): string {
  const tensors = Array.from({ length: count }, (_, t) => t);
  const start = (t: number) => `pu(${2 + count + t}u)`;
  return `${header}${workgroupReduce}
${tensors.map((t) => `@group(0) @binding(${t + 1}) var<storage, read> X${t}: array<f32>;`).join('\n')}
@group(0) @binding(${count + 1}) var<storage, read_write> Partial: array<f32>;
${rowEntry}
  var t = 0u;
  ${tensors
    .slice(1)
    .map((t) => `if (row >= ${start(t)}) { t = ${t}u; }`)
    .join('\n  ')}
  let begin = (row - pu(2u + ${count}u + t)) * ${squaresChunk}u;
  let end = min(begin + ${squaresChunk}u, pu(2u + t));
  var s = 0.0;
  ${tensors
    .map(
      (t) =>
        `${t > 0 ? 'else ' : ''}if (t == ${t}u) { for (var j = begin + lid; j < end; j += ${rowThreads}u) { let x = X${t}[j]; s += x * x; } }`,
    )
    .join('\n  ')}
  let total = reduceSum(s, lid);
  if (lid == 0u) { Partial[pu(1) + row] = total; }
}`;
}

/** Σ x² over every input: chunk partials, as many tensors per dispatch as the adapter binds, then a sum. */
export const sumSquaresKernel: Kernel = (inputs) => {
  const gpu = runtime();
  const perDispatch = Math.min(16, gpu.device.limits.maxStorageBuffersPerShaderStage) - 1;
  const sizes = inputs.map((t) => sizeOf(t.shape));
  const total = sizes.reduce((n, size) => n + Math.ceil(size / squaresChunk), 0);
  if (total === 0) {
    const y = alloc(1);
    gpu.clear(y);
    return [y];
  }
  const partial = alloc(total);
  let offset = 0;
  for (let first = 0; first < inputs.length; first += perDispatch) {
    const group = inputs.slice(first, first + perDispatch);
    const groupSizes = sizes.slice(first, first + perDispatch);
    const starts: number[] = [];
    let chunks = 0;
    for (const size of groupSizes) {
      starts.push(chunks);
      chunks += Math.ceil(size / squaresChunk);
    }
    const words = new Words().u(chunks).u(offset).us(groupSizes).us(starts);
    const code = memoShader(`sumSquares ${group.length}`, () => sumSquaresShader(group.length));
    gpu.dispatch(code, [...group.map(buf), partial.buffer], words, grid(chunks));
    offset += chunks;
  }
  const y = rowSum(partial, 1, total);
  gpu.release(partial);
  return [y];
};

const softmaxShader = `${header}${workgroupReduce}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${rowEntry}
  let n = pu(1);
  let base = row * n;
  var m = negInf();
  for (var j = lid; j < n; j += ${rowThreads}u) { m = max(m, X[base + j]); }
  let rowMax = reduceMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < n; j += ${rowThreads}u) {
    let e = exp(X[base + j] - rowMax);
    Y[base + j] = e;
    s += e;
  }
  let inv = 1.0 / reduceSum(s, lid);
  for (var j = lid; j < n; j += ${rowThreads}u) { Y[base + j] = Y[base + j] * inv; }
}`;

export const softmaxKernel: Kernel = ([x], _attrs, [out]) => {
  const n = x!.shape[x!.shape.length - 1]!;
  const size = sizeOf(out!.shape);
  const rows = n === 0 ? 0 : size / n;
  const y = alloc(size);
  runtime().dispatch(softmaxShader, [buf(x!), y.buffer], new Words().u(rows).u(n), grid(rows));
  return [y];
};

const argmaxShader = `${header}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<i32>;
var<workgroup> bestV: array<f32, ${rowThreads}>;
var<workgroup> bestI: array<u32, ${rowThreads}>;
${rowEntry}
  let n = pu(1);
  var v = negInf();
  var idx = 0xffffffffu;
  for (var j = lid; j < n; j += ${rowThreads}u) {
    let x = X[row * n + j];
    // As in the cpu oracle: the first index whose value beats all before it (-inf and NaN never win).
    if (x > v) { v = x; idx = j; }
  }
  bestV[lid] = v;
  bestI[lid] = idx;
  workgroupBarrier();
  for (var s = ${rowThreads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = bestV[lid + s];
      let oi = bestI[lid + s];
      if (oi != 0xffffffffu && (ov > bestV[lid] || (ov == bestV[lid] && oi < bestI[lid]))) {
        bestV[lid] = ov;
        bestI[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[row] = select(i32(bestI[0]), 0, bestI[0] == 0xffffffffu); }
}`;

export const argmaxKernel: Kernel = ([x], _attrs, [out]) => {
  const n = x!.shape[x!.shape.length - 1]!;
  const rows = sizeOf(out!.shape);
  const y = alloc(rows);
  runtime().dispatch(argmaxShader, [buf(x!), y.buffer], new Words().u(rows).u(n), grid(rows));
  return [y];
};
