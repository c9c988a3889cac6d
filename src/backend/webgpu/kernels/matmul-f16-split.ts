/**
 * Tensor-core f16 matmul with several subgroups per workgroup sharing staged tiles, written around Tint's
 * rule that subgroup-matrix offsets be workgroup-uniform: each subgroup row block of the A tile and each
 * column block of the B tile is its own workgroup array, so a subgroup picks its block with the pointer
 * (`&As[sm]`) and loads at uniform offsets; results go through a per-subgroup fragment buffer (`&Cs[sg]`,
 * offset 0) and plain stores. Same tiling parameters and divisibility as matmul-f16-shared.ts.
 */
import type { SubgroupMatrixConfig } from '../gpu.js';
import { header } from '../shader.js';
import { type SharedTiling, sharedTile, sharedTileK } from './matmul-f16-shared.js';

const range = (n: number) => [...Array(n).keys()];

/** Writes the 8 halves of `v` to `target` at `index`. */
const unpack = (target: string, index: string, value: string) =>
  range(4)
    .map((q) => {
      const h = `bitcast<vec2<f16>>(${value}[${q}])`;
      return `${target}[${index} + ${2 * q}u] = ${h}.x; ${target}[${index} + ${2 * q + 1}u] = ${h}.y;`;
    })
    .join('\n  ');

export function splitSubgroupMatrixShader(
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
  const blockRows = gm * fm; // rows of A per subgroup row block
  const blockCols = gn * fn; // columns of B per subgroup column block
  const strideA = bk + 8;
  const strideB = blockCols + 8;
  const loadsA = (tm * bk) / 8 / threads;
  const loadsB = (bk * tn) / 8 / threads;
  const perLane = (fm * fn) / subgroupSize;
  if (![loadsA, loadsB, perLane].every((x) => Number.isInteger(x) && x >= 1)) {
    throw new Error(`tile ${tm}x${tn} does not divide among ${threads} threads`);
  }
  const ids: [number, number][] = [];
  for (let i = 0; i < gm; i++) for (let j = 0; j < gn; j++) ids.push([i, j]);
  // Element (r, c) of the A tile: row block r / blockRows; (k, c) of the B tile: column block c / blockCols.
  const idxA = (p: number) => `(lid + ${threads * p}u)`;
  const fetchA = (p: number, k: string) =>
    `ra${p} = A[((row0 + ${idxA(p)} / ${bk / 8}u) * K + ${k} + (${idxA(p)} % ${bk / 8}u) * 8u) / 8u];`;
  const fetchB = (p: number, k: string) =>
    `rb${p} = B[((${k} + ${idxA(p)} / ${tn / 8}u) * N + col0 + (${idxA(p)} % ${tn / 8}u) * 8u) / 8u];`;
  const fetchAll = (k: string) =>
    [...range(loadsA).map((p) => fetchA(p, k)), ...range(loadsB).map((p) => fetchB(p, k))].join('\n    ');
  const putA = (p: number) => {
    const r = `(${idxA(p)} / ${bk / 8}u)`;
    return `putA(${r} / ${blockRows}u, (${r} % ${blockRows}u) * ${strideA}u + (${idxA(p)} % ${bk / 8}u) * 8u, ra${p});`;
  };
  const putB = (p: number) => {
    const c = `((${idxA(p)} % ${tn / 8}u) * 8u)`;
    return `putB(${c} / ${blockCols}u, (${idxA(p)} / ${tn / 8}u) * ${strideB}u + ${c} % ${blockCols}u, rb${p});`;
  };
  const kSteps = range(bk / fk).map(
    (s) => `
    {
    ${range(gm)
      .map(
        (i) =>
          `let a${i} = subgroupMatrixLoad<Left>(&As[sm], ${i * fm * strideA + s * fk}u, false, ${strideA}u);`,
      )
      .join('\n    ')}
    ${range(gn)
      .map(
        (j) =>
          `let b${j} = subgroupMatrixLoad<Right>(&Bs[sn], ${s * fk * strideB + j * fn}u, false, ${strideB}u);`,
      )
      .join('\n    ')}
    ${ids.map(([i, j]) => `acc${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i}${j});`).join('\n    ')}
    }`,
  );
  const storeOut = ids.map(
    ([i, j]) => `
  subgroupMatrixStore(&Cs[sg], 0u, acc${i}${j}, false, ${fn}u);
  workgroupBarrier();
  for (var e = 0u; e < ${perLane}u; e++) {
    let idx = lane + ${subgroupSize}u * e;
    C[(r0 + ${i * fm}u + idx / ${fn}u) * N + c0 + ${j * fn}u + idx % ${fn}u] = Cs[sg][idx];
  }
  workgroupBarrier();`,
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
var<workgroup> As: array<array<f16, ${blockRows * strideA}>, ${wm}>;
var<workgroup> Bs: array<array<f16, ${bk * strideB}>, ${wn}>;
var<workgroup> Cs: array<array<f32, ${fm * fn}>, ${wm * wn}>;
fn putA(block: u32, index: u32, v: vec4<u32>) {
  ${unpack('As[block]', 'index', 'v')}
}
fn putB(block: u32, index: u32, v: vec4<u32>) {
  ${unpack('Bs[block]', 'index', 'v')}
}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = pu(1); let K = pu(2);
  let row0 = wid.y * ${tm}u;
  let col0 = wid.x * ${tn}u;
  // Subgroups are taken as consecutive runs of ${subgroupSize} invocations (true of NVIDIA warps); the
  // tests compare every variant with the cpu, so a device where this fails is caught.
  let sg = lid / ${subgroupSize}u;
  let lane = lid % ${subgroupSize}u;
  let sm = sg / ${wn}u;
  let sn = sg % ${wn}u;
  ${ids.map(([i, j]) => `var acc${i}${j} = Acc();`).join(' ')}
  ${range(loadsA)
    .map((p) => `var ra${p}: vec4<u32>;`)
    .join(' ')} ${range(loadsB)
    .map((p) => `var rb${p}: vec4<u32>;`)
    .join(' ')}
  ${fetchAll('0u')}
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
    ${range(loadsA).map(putA).join('\n    ')}
    ${range(loadsB).map(putB).join('\n    ')}
    workgroupBarrier();
    let next = k0 + ${bk}u;
    if (next < K) {
    ${fetchAll('next')}
    }${kSteps.join('')}
    workgroupBarrier();
  }
  let r0 = row0 + sm * ${blockRows}u;
  let c0 = col0 + sn * ${blockCols}u;${storeOut.join('')}
}`;
}
