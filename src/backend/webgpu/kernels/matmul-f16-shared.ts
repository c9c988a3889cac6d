/**
 * Tensor-core f16 matmul staged through workgroup memory: a workgroup of `subgroups` (rows x columns)
 * subgroups loads an A tile [TM, 32] and a B tile [32, TN] with 16-byte global loads (register
 * prefetch of the next K step), and each subgroup multiplies its `grid` of fragments out of workgroup
 * memory. Row strides are padded by 8 halves (16 bytes) against bank conflicts. Needs M % TM, N % TN,
 * K % 32 and (for the 16-byte loads) K % 8, N % 8 to be zero.
 *
 * Only one subgroup per workgroup compiles today: Tint requires the offset argument of
 * subgroupMatrixLoad/Store to be workgroup-uniform, and a subgroup's fragment offset depends on its index
 * in the workgroup (`diagnostic(off, subgroup_uniformity)` does not lift this; tried 2026-11-28).
 */
import type { SubgroupMatrixConfig } from '../gpu.js';
import { header } from '../shader.js';

export const sharedTileK = 32;

export interface SharedTiling {
  /** Subgroups per workgroup along M and N. */
  subgroups: readonly [number, number];
  /** Fragments per subgroup along M and N. */
  grid: readonly [number, number];
}

export function sharedTile(
  config: SubgroupMatrixConfig,
  { subgroups, grid }: SharedTiling,
): [number, number] {
  return [subgroups[0] * grid[0] * config.M, subgroups[1] * grid[1] * config.N];
}

const unpack = (target: string, index: string, value: string) =>
  [0, 1, 2, 3]
    .map((q) => {
      const h = `bitcast<vec2<f16>>(${value}[${q}])`;
      return `${target}[${index} + ${2 * q}u] = ${h}.x; ${target}[${index} + ${2 * q + 1}u] = ${h}.y;`;
    })
    .join('\n  ');

export function sharedSubgroupMatrixShader(
  config: SubgroupMatrixConfig,
  subgroupSize: number,
  tiling: SharedTiling,
): string {
  const { M: fm, N: fn, K: fk } = config;
  const [wm, wn] = tiling.subgroups;
  const [gm, gn] = tiling.grid;
  const [tm, tn] = sharedTile(config, tiling);
  const bk = sharedTileK;
  const threads = wm * wn * subgroupSize;
  const strideA = bk + 8;
  const strideB = tn + 8;
  const loadsA = (tm * bk) / 8 / threads;
  const loadsB = (bk * tn) / 8 / threads;
  if (!Number.isInteger(loadsA) || !Number.isInteger(loadsB) || loadsA < 1 || loadsB < 1) {
    throw new Error(`tile ${tm}x${tn} does not divide among ${threads} threads`);
  }
  const single = wm * wn === 1;
  const ids: [number, number][] = [];
  for (let i = 0; i < gm; i++) for (let j = 0; j < gn; j++) ids.push([i, j]);
  const fetchA = (p: number, k: string) =>
    `ra${p} = A[((row0 + (lid + ${threads * p}u) / ${bk / 8}u) * K + ${k} + ((lid + ${threads * p}u) % ${bk / 8}u) * 8u) / 8u];`;
  const fetchB = (p: number, k: string) =>
    `rb${p} = B[((${k} + (lid + ${threads * p}u) / ${tn / 8}u) * N + col0 + ((lid + ${threads * p}u) % ${tn / 8}u) * 8u) / 8u];`;
  const range = (n: number) => [...Array(n).keys()];
  const fetchAll = (k: string) =>
    [...range(loadsA).map((p) => fetchA(p, k)), ...range(loadsB).map((p) => fetchB(p, k))].join('\n    ');
  const kSteps = range(bk / fk).map(
    (s) => `
    {
    ${range(gm)
      .map(
        (i) =>
          `let a${i} = subgroupMatrixLoad<Left>(&As, (sm * ${gm * fm}u + ${i * fm}u) * ${strideA}u + ${s * fk}u, false, ${strideA}u);`,
      )
      .join('\n    ')}
    ${range(gn)
      .map(
        (j) =>
          `let b${j} = subgroupMatrixLoad<Right>(&Bs, ${s * fk * strideB}u + sn * ${gn * fn}u + ${j * fn}u, false, ${strideB}u);`,
      )
      .join('\n    ')}
    ${ids.map(([i, j]) => `acc${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i}${j});`).join('\n    ')}
    }`,
  );
  return `enable f16;
enable chromium_experimental_subgroup_matrix;
${header}
alias Left = subgroup_matrix_left<f16, ${fk}, ${fm}>;
alias Right = subgroup_matrix_right<f16, ${fn}, ${fk}>;
alias Acc = subgroup_matrix_result<f32, ${fn}, ${fm}>;
@group(0) @binding(1) var<storage, read> A: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f16, ${tm * strideA}>;
var<workgroup> Bs: array<f16, ${bk * strideB}>;
fn putA(index: u32, v: vec4<u32>) {
  ${unpack('As', 'index', 'v')}
}
fn putB(index: u32, v: vec4<u32>) {
  ${unpack('Bs', 'index', 'v')}
}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = pu(1); let K = pu(2);
  let row0 = wid.y * ${tm}u;
  let col0 = wid.x * ${tn}u;
  let sm = ${single ? '0u' : `(lid / ${subgroupSize}u) / ${wn}u`};
  let sn = ${single ? '0u' : `(lid / ${subgroupSize}u) % ${wn}u`};
  ${ids.map(([i, j]) => `var acc${i}${j} = Acc();`).join(' ')}
  ${range(loadsA)
    .map((p) => `var ra${p}: vec4<u32>;`)
    .join(' ')} ${range(loadsB)
    .map((p) => `var rb${p}: vec4<u32>;`)
    .join(' ')}
  ${fetchAll('0u')}
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
    ${range(loadsA)
      .map(
        (p) =>
          `putA(((lid + ${threads * p}u) / ${bk / 8}u) * ${strideA}u + ((lid + ${threads * p}u) % ${bk / 8}u) * 8u, ra${p});`,
      )
      .join('\n    ')}
    ${range(loadsB)
      .map(
        (p) =>
          `putB(((lid + ${threads * p}u) / ${tn / 8}u) * ${strideB}u + ((lid + ${threads * p}u) % ${tn / 8}u) * 8u, rb${p});`,
      )
      .join('\n    ')}
    workgroupBarrier();
    let next = k0 + ${bk}u;
    if (next < K) {
    ${fetchAll('next')}
    }${kSteps.join('')}
    workgroupBarrier();
  }
  let r0 = row0 + sm * ${gm * fm}u;
  let c0 = col0 + sn * ${gn * fn}u;
  ${ids.map(([i, j]) => `subgroupMatrixStore(&C, (r0 + ${i * fm}u) * N + c0 + ${j * fn}u, acc${i}${j}, false, N);`).join('\n  ')}
}`;
}
