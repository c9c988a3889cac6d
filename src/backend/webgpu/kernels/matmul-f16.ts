/**
 * Half-precision matmul C[M,N] (f32) = A[M,K] (f16) · B[K,N] (f16), row-major. Where the adapter has
 * chromium-experimental-subgroup-matrix with an f16 -> f32 shape, one subgroup per workgroup computes a
 * grid of tensor-core fragments (4x4 by default: 64x64 outputs for 16x16 fragments) from global memory;
 * otherwise (or for shapes that are not multiples of that tile) a 16x16-tiled shader-f16 kernel with
 * f32 accumulation computes the same product. Not part of the float32 kernel contract: the model's
 * tensors are float32; this is the building block for f16 weights and the tensor-core benchmark.
 */
import type { SubgroupMatrixConfig } from '../gpu.js';
import { Words } from '../params.js';
import type { GpuRuntime, GpuStorage } from '../runtime.js';
import { header } from '../shader.js';
import {
  type SharedTiling,
  sharedSubgroupMatrixShader,
  sharedTile,
  sharedTileK,
} from './matmul-f16-shared.js';

/** Fragments per subgroup along M and along N (4x4: 64x64 outputs with 16x16 fragments). */
export type FragmentGrid = readonly [number, number];

/** The tensor-core shape used for f16 inputs with f32 results, if the adapter has one. */
export function f16Config(runtime: GpuRuntime): SubgroupMatrixConfig | null {
  const candidates = runtime.subgroupMatrixConfigs.filter(
    (c) => c.componentType === 'f16' && c.resultComponentType === 'f32',
  );
  // Prefer the largest fragment (fewer loads per multiply-accumulate).
  candidates.sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K);
  return candidates[0] ?? null;
}

export function subgroupMatrixShader(
  config: SubgroupMatrixConfig,
  subgroupSize: number,
  [gm, gn]: FragmentGrid,
): string {
  const { M: fm, N: fn, K: fk } = config;
  const ids: [number, number][] = [];
  for (let i = 0; i < gm; i++) for (let j = 0; j < gn; j++) ids.push([i, j]);
  const rowsOf = [...Array(gm).keys()];
  const colsOf = [...Array(gn).keys()];
  return `enable f16;
enable chromium_experimental_subgroup_matrix;
${header}
alias Left = subgroup_matrix_left<f16, ${fk}, ${fm}>;
alias Right = subgroup_matrix_right<f16, ${fn}, ${fk}>;
alias Acc = subgroup_matrix_result<f32, ${fn}, ${fm}>;
@group(0) @binding(1) var<storage, read> A: array<f16>;
@group(0) @binding(2) var<storage, read> B: array<f16>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(${subgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>) {
  let N = pu(1); let K = pu(2);
  let row0 = wid.y * ${fm * gm}u;
  let col0 = wid.x * ${fn * gn}u;
  ${ids.map(([i, j]) => `var acc${i}${j} = Acc();`).join(' ')}
  for (var k = 0u; k < K; k += ${fk}u) {
    ${rowsOf.map((i) => `let a${i} = subgroupMatrixLoad<Left>(&A, (row0 + ${i * fm}u) * K + k, false, K);`).join('\n    ')}
    ${colsOf.map((j) => `let b${j} = subgroupMatrixLoad<Right>(&B, k * N + col0 + ${j * fn}u, false, N);`).join('\n    ')}
    ${ids.map(([i, j]) => `acc${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i}${j});`).join('\n    ')}
  }
  ${ids.map(([i, j]) => `subgroupMatrixStore(&C, (row0 + ${i * fm}u) * N + col0 + ${j * fn}u, acc${i}${j}, false, N);`).join('\n  ')}
}`;
}

const fallbackShader = `enable f16;
${header}
@group(0) @binding(1) var<storage, read> A: array<f16>;
@group(0) @binding(2) var<storage, read> B: array<f16>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, 256>;
var<workgroup> Bs: array<f32, 256>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let M = pu(0); let N = pu(1); let K = pu(2);
  let row = wid.y * 16u + l.y;
  let col = wid.x * 16u + l.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    let ka = k0 + l.x;
    let kb = k0 + l.y;
    As[l.y * 16u + l.x] = select(0.0, f32(A[min(row * K + ka, arrayLength(&A) - 1u)]), row < M && ka < K);
    Bs[l.y * 16u + l.x] = select(0.0, f32(B[min(kb * N + col, arrayLength(&B) - 1u)]), kb < K && col < N);
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) { acc += As[l.y * 16u + kk] * Bs[kk * 16u + l.x]; }
    workgroupBarrier();
  }
  if (row < M && col < N) { C[row * N + col] = acc; }
}`;

/** Which f16 kernel, with its tiling. */
export type F16Variant =
  | { path: 'subgroup-matrix'; grid: FragmentGrid }
  | { path: 'subgroup-matrix-shared'; tiling: SharedTiling }
  | { path: 'tiled-f16' };

export type F16MatmulPath = F16Variant['path'];

/**
 * The tensor-core variants in order of preference (H200 medians, BENCHMARKS.md); `chooseF16Variant` takes
 * the first that fits. Medians of five H200 invocations: direct 2x4 32-51 TFLOP/s (median 50.8), direct
 * 4x4 18-69 (25.3), workgroup memory 1x1 22-55 (53.9, three). Several subgroups per workgroup do not
 * compile (see matmul-f16-shared.ts).
 */
export function f16Variants(): F16Variant[] {
  return [
    { path: 'subgroup-matrix', grid: [2, 4] },
    { path: 'subgroup-matrix-shared', tiling: { subgroups: [1, 1], grid: [2, 4] } },
    { path: 'subgroup-matrix', grid: [4, 4] },
  ];
}

export function describeF16Variant(variant: F16Variant): string {
  if (variant.path === 'subgroup-matrix') return `${variant.path} ${variant.grid.join('x')} fragments`;
  if (variant.path === 'subgroup-matrix-shared') {
    const { subgroups, grid } = variant.tiling;
    return `${variant.path} ${subgroups.join('x')} subgroups of ${grid.join('x')} fragments`;
  }
  return variant.path;
}

/** Whether a variant runs on this runtime for these dimensions. */
export function f16VariantFits(
  runtime: GpuRuntime,
  variant: F16Variant,
  m: number,
  n: number,
  k: number,
): boolean {
  if (!runtime.features.has('shader-f16')) return false;
  if (variant.path === 'tiled-f16') return true;
  const config = f16Config(runtime);
  if (!config || runtime.subgroupMaxSize === 0) return false;
  if (variant.path === 'subgroup-matrix') {
    return (
      m % (config.M * variant.grid[0]) === 0 && n % (config.N * variant.grid[1]) === 0 && k % config.K === 0
    );
  }
  const [tm, tn] = sharedTile(config, variant.tiling);
  return m % tm === 0 && n % tn === 0 && k % sharedTileK === 0 && n % 8 === 0;
}

/** The first tensor-core variant that fits, else the tiled shader-f16 kernel. */
export function chooseF16Variant(runtime: GpuRuntime, m: number, n: number, k: number): F16Variant {
  return f16Variants().find((v) => f16VariantFits(runtime, v, m, n, k)) ?? { path: 'tiled-f16' };
}

/**
 * Encodes C = A·B with f16 A [M,K] and B [K,N] (buffers of 2-byte values) into f32 C [M,N]; returns the
 * variant used. `variant` forces one (the benchmark and tests compare them). Needs shader-f16.
 */
export function encodeMatmulF16(
  runtime: GpuRuntime,
  a: GPUBuffer,
  b: GPUBuffer,
  c: GpuStorage,
  m: number,
  n: number,
  k: number,
  variant: F16Variant = chooseF16Variant(runtime, m, n, k),
): F16Variant {
  if (!f16VariantFits(runtime, variant, m, n, k)) {
    throw new Error(
      `f16 matmul variant ${describeF16Variant(variant)} does not fit ${m}x${n}x${k} on this adapter`,
    );
  }
  const words = new Words().u(m).u(n).u(k);
  const config = f16Config(runtime)!;
  if (variant.path === 'subgroup-matrix') {
    const code = subgroupMatrixShader(config, runtime.subgroupMaxSize, variant.grid);
    runtime.dispatch(code, [a, b, c.buffer], words, [
      n / (config.N * variant.grid[1]),
      m / (config.M * variant.grid[0]),
    ]);
  } else if (variant.path === 'subgroup-matrix-shared') {
    const code = sharedSubgroupMatrixShader(config, runtime.subgroupMaxSize, variant.tiling);
    const [tm, tn] = sharedTile(config, variant.tiling);
    runtime.dispatch(code, [a, b, c.buffer], words, [n / tn, m / tm]);
  } else {
    runtime.dispatch(fallbackShader, [a, b, c.buffer], words, [Math.ceil(n / 16), Math.ceil(m / 16)]);
  }
  return variant;
}
