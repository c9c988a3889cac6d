/**
 * Fused attention forward (FlashAttention-2 style; semantics of ../../cpu/flash-attention.ts): one
 * workgroup takes 64 query rows of one (batch, KV head) pair, each row owned by `lanes` invocations
 * (see attentionLanes) that hold its q row and output accumulator in registers, and streams the keys
 * through workgroup memory in tiles of `BC`, keeping a running max and sum (online softmax), so the
 * [T, S] scores are never stored. Rows are the H/G query heads sharing the KV head, one after another
 * (r = headInGroup·T + i), which is also how q, o and the logsumexp lie in memory. Tiles outside the
 * causal/window band of the workgroup's rows are skipped. Head dims are compiled in (one pipeline per
 * (D, Dv, lanes)); rows are read as vec4 (zero-padded when D is not a multiple of 4).
 */
import type { Kernel } from '../../backend.js';
import { attentionDims, type FlashAttentionAttrs } from '../../cpu/flash-attention.js';
import { Words } from '../params.js';
import { alloc, buf, header, memoShader, runtime } from '../shader.js';
import { wgslMath } from './wgsl-math.js';

/** Query rows per workgroup of the forward and dq kernels. */
export const rowsPerGroup = 64;

let lanesOverride: 1 | 4 | null = null;

/** Forces the lanes per row (tests run both layouts); null restores the choice by adapter. */
export function setAttentionLanes(lanes: 1 | 4 | null): void {
  lanesOverride = lanes;
}

/**
 * Invocations per query (or key) row. With subgroups (of at least 4 invocations, formed from
 * consecutive local indices as Vulkan does), 4 lanes share a row, lane l holding vec4s l, l + 4, … of
 * each row (q, output, gradients) and summing partial dot products with two subgroup shuffles; else
 * one invocation holds whole rows. At D = 64 one invocation per row held 128 (forward) to 256 (dk/dv)
 * floats, more than a GPU keeps in registers; four hold 32 to 64.
 */
export function attentionLanes(): 1 | 4 {
  if (lanesOverride !== null) return lanesOverride;
  // SLM_ATTENTION_LANES=1 picks the one-lane layout (to time both on one GPU).
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.SLM_ATTENTION_LANES === '1') return 1;
  const gpu = runtime();
  return gpu.features.has('subgroups') && gpu.subgroupMinSize >= 4 ? 4 : 1;
}

/**
 * WGSL applying `body` to each register slot `u` of this lane's part of a row of `w4` vec4s; `c` is
 * the vec4's index in the row (lane + lanes·u), guarded when w4 is not a multiple of lanes.
 */
export function eachSlot(w4: number, lanes: number, body: string): string {
  const slots = Math.ceil(w4 / lanes);
  const inner = w4 % lanes === 0 ? body : `if (c < ${w4}u) { ${body} }`;
  return `for (var u = 0u; u < ${slots}u; u++) { let c = lane + ${lanes}u * u; ${inner} }`;
}

/** WGSL `laneSum(x)`: the sum of x over the lanes of a row, in every lane (uniform control flow). */
function laneSum(lanes: number): string {
  if (lanes === 1) return 'fn laneSum(x: f32) -> f32 { return x; }';
  return `fn laneSum(x: f32) -> f32 {
  let pair = x + subgroupShuffleXor(x, 1u);
  return pair + subgroupShuffleXor(pair, 2u);
}`;
}
/** Workgroup memory a kernel's tiles may use (WebGPU's guaranteed minimum). */
const tileBytes = 16384;
/** A finite stand-in for −∞: exp(x − m) stays 0 or 1 without inf − inf. */
export const lowest = '-3.0e38';

/** Keys (or queries) per tile: as many rows of width D4 + Dv4 vec4s as fit, at most 32. */
export function tileRows(d: number, dv: number): number {
  const rowBytes = 16 * (Math.ceil(d / 4) + Math.ceil(dv / 4));
  return Math.max(1, Math.min(32, Math.floor(tileBytes / rowBytes)));
}

/**
 * WGSL: `loadName(row, d4)` -> the vec4 at columns 4·d4.. of row `row` of a [rows, width] buffer
 * (zeros past the width), and the buffer's binding (vec4-typed when the width is a multiple of 4).
 */
export function rowReader(name: string, binding: number, width: number, access = 'read'): string {
  const w4 = Math.ceil(width / 4);
  if (width % 4 === 0) {
    return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<vec4<f32>>;
fn load${name}(row: u32, d4: u32) -> vec4<f32> { return ${name}[row * ${w4}u + d4]; }`;
  }
  const lane = (c: number) =>
    c === 0
      ? `${name}[base + d]`
      : `select(0.0, ${name}[base + min(d + ${c}u, ${width - 1}u)], d + ${c}u < ${width}u)`;
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<f32>;
fn load${name}(row: u32, d4: u32) -> vec4<f32> {
  let base = row * ${width}u;
  let d = d4 * 4u;
  return vec4<f32>(${[0, 1, 2, 3].map(lane).join(', ')});
}`;
}

/** WGSL: `store${name}(row, d4, value)` into a [rows, width] f32 buffer, dropping the zero padding. */
export function rowWriter(name: string, width: number): string {
  if (width % 4 === 0) {
    return `fn store${name}(row: u32, d4: u32, value: vec4<f32>) {
  let base = row * ${width}u + d4 * 4u;
  ${name}[base] = value.x; ${name}[base + 1u] = value.y; ${name}[base + 2u] = value.z; ${name}[base + 3u] = value.w;
}`;
  }
  return `fn store${name}(row: u32, d4: u32, value: vec4<f32>) {
  for (var c = 0u; c < 4u; c++) {
    let d = d4 * 4u + c;
    if (d < ${width}u) { ${name}[row * ${width}u + d] = value[c]; }
  }
}`;
}

const prelude = /* wgsl */ `${header}
alias T = f32;
${wgslMath}
fn visible(j: i32, pos: i32) -> bool {
  return (pu(6u) == 0u || j <= pos) && (pi(7u) < 0 || j > pos - pi(7u));
}
// Soft-capped score c·tanh(x/c) of x = scale·q·k, and its derivative 1 − tanh²(x/c).
fn capped(x: f32) -> vec2<f32> {
  let c = pf(8u);
  if (c == 0.0) { return vec2<f32>(x, 1.0); }
  let t = tanh_(x / c);
  return vec2<f32>(c * t, 1.0 - t * t);
}
fn dot4(a: vec4<f32>, b: vec4<f32>, acc: f32) -> f32 { return acc + dot(a, b); }
// Key range [begin, end) that query rows r0..r1 (of one (b, g) pair) can see.
fn keyRange(r0: u32, r1: u32) -> vec2<i32> {
  let t = pu(1u);
  var lo = pi(4u);
  var hi = i32(t) - 1 + pi(4u);
  if (r0 / t == r1 / t) { lo = i32(r0 % t) + pi(4u); hi = i32(r1 % t) + pi(4u); }
  var range = vec2<i32>(0, i32(pu(2u)));
  if (pu(6u) == 1u) { range.y = min(range.y, hi + 1); }
  if (pi(7u) >= 0) { range.x = max(0, lo - pi(7u) + 1); }
  return range;
}
`;

/**
 * WGSL shared by the attention kernels. Words: 0 rows per (b, g) pair R = rep·T, 1 T, 2 S, 3 rep,
 * 4 key offset S − T (i32), 5 scale, 6 causal, 7 window (i32, −1 none), 8 soft-cap (0 none),
 * 9 rows per key/query tile (`tileRows`).
 */
export function attentionPrelude(lanes: number): string {
  return `${lanes > 1 ? 'enable subgroups;\n' : ''}${prelude}
${laneSum(lanes)}
`;
}

/**
 * The entry point shared by the forward and the dq kernels: key/value tiles in workgroup memory, this
 * lane's part of its query row (pre-scaled), the row's position and the key range of the workgroup's
 * rows (uniform over the workgroup, so loops over it may hold subgroup operations).
 */
export function queryRowEntry(bc: number, d4: number, dv4: number, lanes: number): string {
  return `var<workgroup> Ks: array<vec4<f32>, ${bc * d4}>;
var<workgroup> Vs: array<vec4<f32>, ${bc * dv4}>;
@compute @workgroup_size(${rowsPerGroup * lanes})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = pu(0u);
  let keys = pu(2u);
  let bg = wid.y;
  let r0 = wid.x * ${rowsPerGroup}u;
  let lane = lid % ${lanes}u;
  let slot = lid / ${lanes}u;
  let r = min(r0 + slot, rows - 1u);
  let pos = i32(r % pu(1u)) + pi(4u);
  let range = keyRange(r0, min(r0 + ${rowsPerGroup}u, rows) - 1u);
  let row = bg * rows + r;
  var q: array<vec4<f32>, ${Math.ceil(d4 / lanes)}>;
  ${eachSlot(d4, lanes, 'q[u] = loadQ(row, c) * pf(5u);')}`;
}

/** WGSL: the key and value tile starting at key t0 into Ks and Vs (all invocations of the workgroup). */
export function loadKeyTile(bc: number, d4: number, dv4: number, lanes: number): string {
  const threads = rowsPerGroup * lanes;
  return `workgroupBarrier();
    for (var e = lid; e < ${bc * d4}u; e += ${threads}u) {
      let j = min(u32(t0) + e / ${d4}u, keys - 1u);
      Ks[e] = loadK(bg * keys + j, e % ${d4}u);
    }
    for (var e = lid; e < ${bc * dv4}u; e += ${threads}u) {
      let j = min(u32(t0) + e / ${dv4}u, keys - 1u);
      Vs[e] = loadV(bg * keys + j, e % ${dv4}u);
    }
    workgroupBarrier();`;
}

export function attentionWords(
  attrs: FlashAttentionAttrs,
  rows: number,
  queries: number,
  keys: number,
  rep: number,
  dk: number,
  dv: number,
): Words {
  return new Words()
    .u(rows)
    .u(queries)
    .u(keys)
    .u(rep)
    .i(keys - queries)
    .f(attrs.scale)
    .u(attrs.causal ? 1 : 0)
    .i(attrs.window)
    .f(attrs.softcap)
    .u(tileRows(dk, dv));
}

function forwardShader(d: number, dv: number, lanes: number): string {
  const d4 = Math.ceil(d / 4);
  const dv4 = Math.ceil(dv / 4);
  const bc = tileRows(d, dv);
  return `${attentionPrelude(lanes)}
${rowReader('Q', 1, d)}
${rowReader('K', 2, d)}
${rowReader('V', 3, dv)}
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
${rowWriter('O', dv)}
${queryRowEntry(bc, d4, dv4, lanes)}
  var acc: array<vec4<f32>, ${Math.ceil(dv4 / lanes)}>;
  var m = ${lowest};
  var l = 0.0;
  for (var t0 = range.x; t0 < range.y; t0 += ${bc}) {
    ${loadKeyTile(bc, d4, dv4, lanes)}
    // The tile length is a runtime value (word 9), so compilers keep this loop rolled (lavapipe took
    // tens of seconds to compile it unrolled); the running max rescales the sums only when it grows.
    for (var jj = 0u; jj < pu(9u); jj++) {
      let j = t0 + i32(jj);
      if (j < range.y) {
        var x = 0.0;
        ${eachSlot(d4, lanes, `x += dot(q[u], Ks[jj * ${d4}u + c]);`)}
        x = capped(laneSum(x)).x;
        if (visible(j, pos)) {
          if (x > m) {
            let correction = exp(m - x);
            l *= correction;
            for (var u = 0u; u < ${Math.ceil(dv4 / lanes)}u; u++) { acc[u] *= correction; }
            m = x;
          }
          let p = exp(x - m);
          l += p;
          ${eachSlot(dv4, lanes, `acc[u] = fma(vec4<f32>(p), Vs[jj * ${dv4}u + c], acc[u]);`)}
        }
      }
    }
  }
  if (r0 + slot < rows) {
    ${eachSlot(dv4, lanes, 'storeO(row, c, acc[u] / l);')}
    if (lane == 0u) { LSE[row] = m + log(l); }
  }
}`;
}

/** q [B, H, T, D], k [B, G, S, D], v [B, G, S, Dv] -> o [B, H, T, Dv], logsumexp [B, H, T]. */
export const flashAttentionKernel: Kernel<FlashAttentionAttrs> = ([q, k, v], attrs) => {
  const { batch, heads, groups, queries, keys, dk, dv } = attentionDims(q!, k!, v!);
  const rep = heads / groups;
  const rows = rep * queries;
  if (keys === 0) throw new Error('flashAttention needs at least one key');
  const o = alloc(batch * heads * queries * dv);
  const lse = alloc(batch * heads * queries);
  const lanes = attentionLanes();
  const code = memoShader(`flashAttention:${dk}:${dv}:${lanes}`, () => forwardShader(dk, dv, lanes));
  runtime().dispatch(
    code,
    [buf(q!), buf(k!), buf(v!), o.buffer, lse.buffer],
    attentionWords(attrs, rows, queries, keys, rep, dk, dv),
    [Math.ceil(rows / rowsPerGroup), batch * groups],
  );
  return [o, lse];
};
