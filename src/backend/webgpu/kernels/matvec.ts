/**
 * Matmul with few rows (M ≤ 8: decoding, small batches): a matrix-vector kernel that reads B once with
 * coalesced loads and spreads the work over N instead of wasting a 128-row tile. C[m, n] = Σ_k A[m, k]
 * op(B)[k, n] with A [M, K] row-major. Specialised per M (accumulators in registers).
 * - transB (B [N, K], the nn.Linear weight layout): 32 threads per output column stride over K (vec4 when
 *   K % 4 = 0), 8 columns per workgroup, partial sums added through workgroup memory.
 * - B [K, N]: 32 columns x 8 K-splits per workgroup, loads coalesced along N.
 */
import type { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import { bf16Element, bf16PairWGSL, grid, header, runtime } from '../shader.js';
import { batchOffsets } from './batch.js';

export const matvecMaxRows = 8;

function matvecShader(m: number, transB: boolean, vec: boolean, packedB = false): string {
  const rows = [...Array(m).keys()];
  const elem = vec ? 'vec4<f32>' : 'f32';
  const dot = (x: string, y: string) => (vec ? `dot(${x}, ${y})` : `${x} * ${y}`);
  const kStep = vec ? 'K / 4u' : 'K';
  const body = transB
    ? `let col = block * 8u + lid / 32u;
  let lane = lid % 32u;
  let kn = ${kStep};
  if (col < N) {
    for (var k = lane; k < kn; k += 32u) {
      let b = ${
        !packedB
          ? `B[bBase${vec ? ' / 4u' : ''} + col * kn + k]`
          : vec
            ? 'unpack4(B[bBase / 4u + col * kn + k])'
            : bf16Element('B', 'bBase + col * kn + k')
      };
      ${rows.map((r) => `acc${r} += ${dot(`A[aBase${vec ? ' / 4u' : ''} + ${r}u * kn + k]`, 'b')};`).join('\n      ')}
    }
  }
  ${rows.map((r) => `part[(lid / 32u * 8u + ${r}u) * 32u + lane] = acc${r};`).join('\n  ')}
  workgroupBarrier();
  if (lid < 64u) {
    let outCol = block * 8u + lid / 8u;
    let row = lid % 8u;
    var s = 0.0;
    for (var l = 0u; l < 32u; l++) { s += part[((lid / 8u) * 8u + row) * 32u + l]; }
    if (row < ${m}u && outCol < N) { C[cBase + row * N + outCol] = s; }
  }`
    : `let col = block * 32u + lid % 32u;
  let split = lid / 32u;
  if (col < N) {
    for (var k = split; k < K; k += 8u) {
      let b = B[bBase + k * N + col];
      ${rows.map((r) => `acc${r} += A[aBase + ${r}u * K + k] * b;`).join('\n      ')}
    }
  }
  ${rows.map((r) => `part[(split * 8u + ${r}u) * 32u + lid % 32u] = acc${r};`).join('\n  ')}
  workgroupBarrier();
  let row = lid / 32u;
  let outCol = block * 32u + lid % 32u;
  var s = 0.0;
  for (var t = 0u; t < 8u; t++) { s += part[(t * 8u + row) * 32u + lid % 32u]; }
  if (row < ${m}u && outCol < N) { C[cBase + row * N + outCol] = s; }`;
  return `${header}
@group(0) @binding(1) var<storage, read> A: array<${elem}>;
@group(0) @binding(2) var<storage, read> B: array<${packedB ? (vec ? 'vec2<u32>' : 'u32') : elem}>;
${packedB ? `${bf16PairWGSL}\nfn unpack4(w: vec2<u32>) -> vec4<f32> { return vec4<f32>(bf16x2(w.x), bf16x2(w.y)); }` : ''}
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> part: array<f32, 2048>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = pu(1); let K = pu(2);
  ${batchOffsets('wid.z')}
  let cBase = wid.z * ${m}u * N;
  let block = wid.x + wid.y * nwg.x;
  ${rows.map((r) => `var acc${r} = 0.0;`).join(' ')}
  ${body}
}`;
}

const shaders = new Map<string, string>();

/** Encodes C [batches, M, N] with M ≤ 8 and A not transposed; `words` as for the tiled kernel. */
export function encodeMatvec(
  a: GPUBuffer,
  b: GPUBuffer,
  c: GpuStorage,
  { m, n, k, transB }: { m: number; n: number; k: number; transB: boolean },
  words: Words,
  batches: number,
  packedB = false,
): void {
  // vec4 needs K % 4 = 0 (then every batch offset of A and B is a multiple of 4 too).
  const vec = transB && k % 4 === 0;
  const key = `${m}${transB}${vec}${packedB}`;
  let code = shaders.get(key);
  if (!code) {
    code = matvecShader(m, transB, vec, packedB);
    shaders.set(key, code);
  }
  const [x, y] = grid(Math.ceil(n / (transB ? 8 : 32)));
  runtime().dispatch(code, [a, b, c.buffer], words, [x, y, batches]);
}
