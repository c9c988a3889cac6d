/**
 * Batched matmul C = op(A) op(B) with broadcast batch axes: 128x128 output tiles per workgroup of 256
 * threads (64x64 for products with few tiles, 4x4 a thread), each thread an 8x8 register block (two 4-row by two 4-column vec4 groups, which keeps
 * workgroup-memory reads conflict-free), K in steps of 16 through workgroup memory, the next step's
 * global loads issued before the current step's arithmetic. Variants: transposes, vec4 global access
 * to each operand whose contiguous dimension is a multiple of 4, and bounds checks only when a dimension
 * is not a multiple of the tile; K split into chunks summed afterwards when there are few output tiles
 * (splitK). Products with at most 8 rows (decoding) go to the matrix-vector kernel.
 */
import { broadcastStrides, sizeOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import type { MatmulAttrs } from '../../cpu/matmul.js';
import { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import {
  alloc,
  bf16Element,
  bf16PairWGSL,
  buf,
  header,
  isPacked,
  memoShader,
  packedBuf,
  runtime,
} from '../shader.js';
import { batchOffsets, collapseBatch, maxBatchRank } from './batch.js';
import { encodeMatvec, matvecMaxRows } from './matvec.js';
import { columnReduce, columnSumShader } from './reduction.js';

const tileK = 16;

interface Variant {
  transA: boolean;
  transB: boolean;
  /** vec4 access to A, B and C: each where its rows' length (and batch stride) is a multiple of 4. */
  vecA: boolean;
  vecB: boolean;
  vecC: boolean;
  checked: boolean;
  /**
   * Output tile side: 128 (8x8 registers a thread) or 64 (4x4), for products with too few 128-tiles to
   * fill the GPU (a prefill's projections: 128 tokens x 576 outputs is 5 tiles of 128, 18 of 64).
   */
  tile: 64 | 128;
  /** B holds bf16 pairs (a packed weight; with transB): array<vec2<u32>> when vecB, else array<u32>. */
  packedB?: boolean;
}

/**
 * WGSL that loads 4 consecutive elements (row r, columns c..c+3) of a row-major [rows, cols] matrix at
 * element offset `base` of buffer `name`, zero outside.
 */
function load4(name: 'A' | 'B', v: Variant): string {
  if (name === 'B' && v.packedB) {
    if (v.vecB) {
      const guard = v.checked ? 'if (r >= rows || c >= cols) { return vec4<f32>(0.0); }\n  ' : '';
      return `fn loadB(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  ${guard}let w = B[(base + r * cols + c) / 4u];
  return vec4<f32>(bf16x2(w.x), bf16x2(w.y));
}`;
    }
    const el = (q: number) => {
      const e = v.checked
        ? `min(base + r * cols + c + ${q}u, arrayLength(&B) * 2u - 1u)`
        : `base + r * cols + c + ${q}u`;
      const value = bf16Element('B', e);
      return v.checked ? `select(0.0, ${value}, r < rows && c + ${q}u < cols)` : value;
    };
    return `fn loadB(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  return vec4<f32>(${el(0)}, ${el(1)}, ${el(2)}, ${el(3)});
}`;
  }
  if (name === 'A' ? v.vecA : v.vecB) {
    const guard = v.checked ? 'if (r >= rows || c >= cols) { return vec4<f32>(0.0); }\n  ' : '';
    return `fn load${name}(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  ${guard}return ${name}[(base + r * cols + c) / 4u];
}`;
  }
  const el = (q: number) =>
    v.checked
      ? `select(0.0, ${name}[min(base + r * cols + c + ${q}u, arrayLength(&${name}) - 1u)], r < rows && c + ${q}u < cols)`
      : `${name}[base + r * cols + c + ${q}u]`;
  return `fn load${name}(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  return vec4<f32>(${el(0)}, ${el(1)}, ${el(2)}, ${el(3)});
}`;
}

/**
 * Global-to-register load of part p (0 or 1; one vec4 a thread each) of a tile x 16 operand tile, and
 * its store into workgroup memory laid out [k][tile] as vec4. `kMajor`: the matrix is stored
 * [K, tile-side] (contiguous along the tile's long side), else [tile-side, K] (contiguous along k,
 * stored transposed).
 */
function tileIO(name: string, kMajor: boolean, tile: number): { load: string; store: string } {
  const row = tile / 4; // vec4s in one k-row of the tile
  if (kMajor) {
    return {
      load: `fn fetch${name}(base: u32, t0: u32, k0: u32, p: u32, lid: u32, K: u32, S: u32) -> vec4<f32> {
  let idx = lid + 256u * p;
  return load${name}(base, k0 + idx / ${row}u, t0 + 4u * (idx % ${row}u), K, S);
}`,
      store: `fn put${name}(v: vec4<f32>, p: u32, lid: u32) { ${name}s[lid + 256u * p] = v; }`,
    };
  }
  return {
    load: `fn fetch${name}(base: u32, t0: u32, k0: u32, p: u32, lid: u32, K: u32, S: u32) -> vec4<f32> {
  let idx = lid + 256u * p;
  return load${name}(base, t0 + idx / 4u, k0 + 4u * (idx % 4u), S, K);
}`,
    store: `fn put${name}(v: vec4<f32>, p: u32, lid: u32) {
  let idx = lid + 256u * p;
  let m = idx / 4u;
  let k = 4u * (idx % 4u);
  ${[0, 1, 2, 3].map((q) => `${name}s[(k + ${q}u) * ${row}u + m / 4u][m % 4u] = v[${q}];`).join('\n  ')}
}`,
  };
}

function matmulShader(v: Variant): string {
  const tile = v.tile;
  const row = tile / 4;
  const parts = tile / 64; // operand vec4s a thread loads per k-step
  const a = tileIO('A', v.transA, tile);
  const b = tileIO('B', !v.transB, tile);
  // 128: acc[2i + h] is row (i < 4 ? 4ty + i : 64 + 4ty + i - 4), columns 4tx + 64h .. +3;
  // 64: acc[i] is row 4ty + i, columns 4tx .. +3.
  const rowsHere = tile === 128 ? 8 : 4;
  const colGroups = tile === 128 ? 2 : 1;
  const acc = Array.from({ length: rowsHere * colGroups }, (_, k) => `acc${k}`);
  const fma: string[] = [];
  for (let i = 0; i < rowsHere; i++) {
    const av = `${i < 4 ? 'a0' : 'a1'}[${i % 4}]`;
    fma.push(
      Array.from({ length: colGroups }, (_, h) => `acc${colGroups * i + h} += ${av} * b${h};`).join(' '),
    );
  }
  const stores: string[] = [];
  for (let i = 0; i < rowsHere; i++) {
    const r = i < 4 ? `m0 + 4u * ty + ${i}u` : `m0 + 64u + 4u * ty + ${i - 4}u`;
    for (let h = 0; h < colGroups; h++)
      stores.push(`store(cBase, ${r}, n0 + ${64 * h}u + 4u * tx, M, N, acc${colGroups * i + h});`);
  }
  const range = Array.from({ length: parts }, (_, p) => p);
  const store = v.vecC
    ? `fn store(base: u32, r: u32, c: u32, rows: u32, cols: u32, x: vec4<f32>) {
  ${v.checked ? 'if (r >= rows || c >= cols) { return; }' : ''}
  C[(base + r * cols + c) / 4u] = x;
}`
    : `fn store(base: u32, r: u32, c: u32, rows: u32, cols: u32, x: vec4<f32>) {
  if (r >= rows) { return; }
  for (var q = 0u; q < 4u; q++) { if (c + q < cols) { C[base + r * cols + c + q] = x[q]; } }
}`;
  return `${header}
@group(0) @binding(1) var<storage, read> A: array<${v.vecA ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read> B: array<${v.packedB ? (v.vecB ? 'vec2<u32>' : 'u32') : v.vecB ? 'vec4<f32>' : 'f32'}>;
${v.packedB ? bf16PairWGSL : ''}
@group(0) @binding(3) var<storage, read_write> C: array<${v.vecC ? 'vec4<f32>' : 'f32'}>;
var<workgroup> As: array<vec4<f32>, ${(tileK * tile) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(tileK * tile) / 4}>;
${load4('A', v)}
${load4('B', v)}
${a.load}
${a.store}
${b.load}
${b.store}
${store}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = pu(0); let N = pu(1); let K = pu(2);
  // Split-K: z = batch·splits + split; this workgroup sums k in [kStart, kEnd) into slice z of C.
  let splits = pu(17);
  let kStart = (wid.z % splits) * pu(16);
  let kEnd = min(K, kStart + pu(16));
  ${batchOffsets('wid.z / splits')}
  let cBase = wid.z * M * N;
  let m0 = wid.y * ${tile}u;
  let n0 = wid.x * ${tile}u;
  let tx = lid % 16u;
  let ty = lid / 16u;
  ${acc.map((name) => `var ${name} = vec4<f32>(0.0);`).join(' ')}
  ${range.map((p) => `var ra${p} = fetchA(aBase, m0, kStart, ${p}u, lid, K, M);`).join('\n  ')}
  ${range.map((p) => `var rb${p} = fetchB(bBase, n0, kStart, ${p}u, lid, K, N);`).join('\n  ')}
  for (var k0 = kStart; k0 < kEnd; k0 += ${tileK}u) {
    ${range.map((p) => `putA(ra${p}, ${p}u, lid); putB(rb${p}, ${p}u, lid);`).join(' ')}
    workgroupBarrier();
    let next = k0 + ${tileK}u;
    if (next < kEnd) {
      ${range.map((p) => `ra${p} = fetchA(aBase, m0, next, ${p}u, lid, K, M);`).join('\n      ')}
      ${range.map((p) => `rb${p} = fetchB(bBase, n0, next, ${p}u, lid, K, N);`).join('\n      ')}
    }
    for (var kk = 0u; kk < ${tileK}u; kk++) {
      ${range.map((p) => `let a${p} = As[kk * ${row}u + ${16 * p}u + ty];`).join('\n      ')}
      ${range.map((p) => `let b${p} = Bs[kk * ${row}u + ${16 * p}u + tx];`).join('\n      ')}
      ${fma.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${stores.join('\n  ')}
}`;
}

function shaderFor(v: Variant): string {
  const access = (vec: boolean) => (vec ? 'vec4' : 'scalar');
  const key = `matmul${v.tile === 64 ? '64' : ''}${v.transA ? ' Aᵀ' : ''}${v.transB ? ' Bᵀ' : ''} A:${access(v.vecA)} B:${access(v.vecB)}${v.packedB ? ' bf16' : ''} C:${access(v.vecC)}${v.checked ? ' checked' : ''}`;
  return memoShader(key, () => matmulShader(v));
}

function words(m: number, n: number, k: number, shape: number[], sa: number[], sb: number[]): Words {
  return new Words()
    .u(m)
    .u(n)
    .u(k)
    .u(shape.length)
    .us(shape, maxBatchRank, 1)
    .us(sa, maxBatchRank)
    .us(sb, maxBatchRank);
}

/**
 * K-chunks of a product with few output tiles and a long K: a weight gradient dW = dYᵀ·X over all the
 * tokens of a batch (768x768 has 36 tiles of 128x128, with K = 8192 at GPT-2's batch 8 x 1024) would
 * keep a few dozen workgroups busy on a GPU that holds hundreds. Each chunk's product goes to its own
 * [M, N] slice and a column sum adds them. Chunks are at least `minChunkK` long; splits aim at
 * `targetGroups` workgroups in all. Unbatched products only (the slices then lie [splits, M, N]).
 */
const minChunkK = 512;
const targetGroups = 512;

function splitK(
  tiles: number,
  batches: number,
  k: number,
  maxSplits: number,
): { splits: number; chunk: number } {
  const whole = Math.ceil(k / tileK) * tileK;
  if (batches !== 1 || tiles >= targetGroups / 2 || k < 4 * minChunkK || maxSplits < 2)
    return { splits: 1, chunk: whole };
  const wanted = Math.min(Math.floor(k / minChunkK), Math.ceil(targetGroups / tiles), maxSplits);
  const chunk = Math.ceil(k / wanted / tileK) * tileK;
  return { splits: Math.ceil(k / chunk), chunk };
}

/**
 * Products with fewer 128x128 output tiles than `smallTileBelow` (over all batches) take 64x64 tiles:
 * four times the workgroups, each with a quarter of the serial work a thread. A big GPU holds over a
 * hundred workgroups at once; a 128-token prefill's projections made 2 to 12 tiles of 128.
 * Settable for tests (0: always 128; Infinity: always 64).
 */
export const matmulTiling = { smallTileBelow: 64 };

function outputTile(m: number, n: number, batches: number): 64 | 128 {
  return batches * Math.ceil(m / 128) * Math.ceil(n / 128) < matmulTiling.smallTileBelow ? 64 : 128;
}

/** Encodes C = op(A) op(B) for [batch..., M, N]; A's and B's batch strides are in elements. */
export function encodeMatmul(
  a: GPUBuffer,
  b: GPUBuffer,
  c: GpuStorage,
  dims: { m: number; n: number; k: number; transA: boolean; transB: boolean },
  batch: { shape: number[]; aStrides: number[]; bStrides: number[] },
  packedB = false,
): void {
  const { m, n, k, transA, transB } = dims;
  if (packedB && !transB)
    throw new Error(
      "a bf16-packed weight is read by linear layers only (B transposed, as nn.Linear holds it); load the model with gpuWeights 'f32' to train or fine-tune it",
    );
  const batches = sizeOf(batch.shape);
  if (m === 0 || n === 0 || batches === 0) return;
  if (k === 0) {
    runtime().clear(c);
    return;
  }
  const [shape, sa, sb] = collapseBatch(batch.shape, batch.aStrides, batch.bStrides);
  if (shape.length > maxBatchRank)
    throw new Error(`webgpu matmul supports up to ${maxBatchRank} non-contiguous batch axes`);
  if (batches > 65535) throw new Error(`webgpu matmul supports up to 65535 batched products, got ${batches}`);
  if (m <= matvecMaxRows && !transA) {
    encodeMatvec(a, b, c, { m, n, k, transB }, words(m, n, k, shape, sa, sb), batches, packedB);
    return;
  }
  const aCols = transA ? m : k;
  const bCols = transB ? k : n;
  const tile = outputTile(m, n, batches);
  const checked = m % tile !== 0 || n % tile !== 0 || k % tileK !== 0;
  const tiles = Math.ceil(n / tile) * Math.ceil(m / tile);
  // The slices must fit one storage binding.
  const maxSplits = Math.floor(runtime().device.limits.maxStorageBufferBindingSize / (4 * m * n));
  const { splits, chunk } = splitK(tiles, batches, k, maxSplits);
  const groups = [Math.ceil(n / tile), Math.ceil(m / tile), batches * splits];
  // An lm head's vocabulary (GPT-2's 50257) makes only the operands with vocabulary-long rows scalar.
  const code = shaderFor({
    transA,
    transB,
    vecA: aCols % 4 === 0,
    vecB: bCols % 4 === 0,
    vecC: n % 4 === 0,
    checked,
    tile,
    packedB,
  });
  const params = words(m, n, k, shape, sa, sb).u(chunk).u(splits);
  if (splits === 1) {
    runtime().dispatch(code, [a, b, c.buffer], params, groups);
    return;
  }
  const partial = alloc(splits * m * n); // [splits, M, N]
  runtime().dispatch(code, [a, b, partial.buffer], params, groups);
  columnReduce(columnSumShader, [partial.buffer], splits, m * n, c);
  runtime().release(partial);
}

export const matmulKernel: Kernel<MatmulAttrs> = ([a, b], { transA, transB }, [out]) => {
  const ar = a!.shape.length;
  const br = b!.shape.length;
  const m = transA ? a!.shape[ar - 1]! : a!.shape[ar - 2]!;
  const k = transA ? a!.shape[ar - 2]! : a!.shape[ar - 1]!;
  const n = transB ? b!.shape[br - 2]! : b!.shape[br - 1]!;
  const batchShape = out!.shape.slice(0, -2);
  const aStrides = broadcastStrides(a!.shape.slice(0, -2), batchShape).map((s) => s * m * k);
  const bStrides = broadcastStrides(b!.shape.slice(0, -2), batchShape).map((s) => s * k * n);
  const c = alloc(sizeOf(out!.shape));
  encodeMatmul(
    buf(a!),
    isPacked(b!) ? packedBuf(b!) : buf(b!),
    c,
    { m, n, k, transA, transB },
    { shape: [...batchShape], aStrides, bStrides },
    isPacked(b!),
  );
  return [c];
};
