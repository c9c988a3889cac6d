/**
 * Fused attention backward (FlashAttention-2, semantics of ../../cpu/flash-attention.ts) as two kernels
 * and no atomics. P = exp(score − lse) is recomputed from the saved logsumexp; Δ = rowsum(dO ⊙ O).
 * Rows are owned by `lanes` invocations each (attentionLanes in flash-attention.ts).
 * 1. dq: like the forward, 64 query rows per workgroup stream the keys and values of their band through
 *    workgroup memory: dS = P ⊙ (dO·vᵀ − Δ) ⊙ softcap', dq = scale·Σ dS·k. It also writes Δ per row.
 * 2. dk/dv: 64 keys per workgroup (their k, v, dk and dv rows in registers) stream the query rows that
 *    can see them (those of every query head sharing the KV head, so dk and dv come out summed over the
 *    group) with their dO rows: dv = Σ P·dO, dk = scale·Σ dS·q.
 */
import type { Kernel } from '../../backend.js';
import { attentionDims, type FlashAttentionAttrs } from '../../cpu/flash-attention.js';
import { alloc, buf, memoShader, runtime } from '../shader.js';
import {
  attentionLanes,
  attentionPrelude,
  attentionWords,
  eachSlot,
  loadKeyTile,
  queryRowEntry,
  rowReader,
  rowsPerGroup,
  rowWriter,
  tileRows,
} from './flash-attention.js';

const keysPerGroup = 64;

function dqShader(d: number, dv: number, lanes: number): string {
  const d4 = Math.ceil(d / 4);
  const dv4 = Math.ceil(dv / 4);
  const bc = tileRows(d, dv);
  return `${attentionPrelude(lanes)}
${rowReader('Q', 1, d)}
${rowReader('K', 2, d)}
${rowReader('V', 3, dv)}
${rowReader('O', 4, dv)}
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
${rowReader('DO', 6, dv)}
@group(0) @binding(7) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(8) var<storage, read_write> Delta: array<f32>;
${rowWriter('DQ', d)}
${queryRowEntry(bc, d4, dv4, lanes)}
  var dO: array<vec4<f32>, ${Math.ceil(dv4 / lanes)}>;
  var delta = 0.0;
  ${eachSlot(dv4, lanes, 'dO[u] = loadDO(row, c); delta += dot(dO[u], loadO(row, c));')}
  delta = laneSum(delta);
  var dq: array<vec4<f32>, ${Math.ceil(d4 / lanes)}>;
  let lse = LSE[row];
  for (var t0 = range.x; t0 < range.y; t0 += ${bc}) {
    ${loadKeyTile(bc, d4, dv4, lanes)}
    for (var jj = 0u; jj < pu(9u); jj++) {
      let j = t0 + i32(jj);
      if (j < range.y) {
        var x = 0.0;
        ${eachSlot(d4, lanes, `x += dot(q[u], Ks[jj * ${d4}u + c]);`)}
        var dp = 0.0;
        ${eachSlot(dv4, lanes, `dp += dot(dO[u], Vs[jj * ${dv4}u + c]);`)}
        x = laneSum(x);
        dp = laneSum(dp);
        if (visible(j, pos)) {
          let sc = capped(x);
          let ds = exp(sc.x - lse) * (dp - delta) * sc.y;
          ${eachSlot(d4, lanes, `dq[u] = fma(vec4<f32>(ds), Ks[jj * ${d4}u + c], dq[u]);`)}
        }
      }
    }
  }
  if (r0 + slot < rows) {
    ${eachSlot(d4, lanes, 'storeDQ(row, c, dq[u] * pf(5u));')}
    if (lane == 0u) { Delta[row] = delta; }
  }
}`;
}

function dkdvShader(d: number, dv: number, lanes: number): string {
  const d4 = Math.ceil(d / 4);
  const dv4 = Math.ceil(dv / 4);
  const bq = tileRows(d, dv);
  const threads = keysPerGroup * lanes;
  return `${attentionPrelude(lanes)}
${rowReader('Q', 1, d)}
${rowReader('K', 2, d)}
${rowReader('V', 3, dv)}
@group(0) @binding(4) var<storage, read> LSE: array<f32>;
@group(0) @binding(5) var<storage, read> Delta: array<f32>;
${rowReader('DO', 6, dv)}
@group(0) @binding(7) var<storage, read_write> DK: array<f32>;
@group(0) @binding(8) var<storage, read_write> DV: array<f32>;
${rowWriter('DK', d)}
${rowWriter('DV', dv)}
var<workgroup> Qs: array<vec4<f32>, ${bq * d4}>;
var<workgroup> DOs: array<vec4<f32>, ${bq * dv4}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = pu(0u);
  let queries = pu(1u);
  let keys = pu(2u);
  let offset = pi(4u);
  let bg = wid.y;
  let lane = lid % ${lanes}u;
  let slot = lid / ${lanes}u;
  let j0 = wid.x * ${keysPerGroup}u;
  let j = min(j0 + slot, keys - 1u);
  let jLast = min(j0 + ${keysPerGroup}u, keys) - 1u;
  // Queries i (position i + offset) that see any of the keys j0..jLast (uniform over the workgroup).
  var begin = 0;
  var end = i32(queries);
  if (pu(6u) == 1u) { begin = max(begin, i32(j0) - offset); }
  if (pi(7u) >= 0) { end = min(end, i32(jLast) + pi(7u) - offset); }
  let kvRow = bg * keys + j;
  var k: array<vec4<f32>, ${Math.ceil(d4 / lanes)}>;
  ${eachSlot(d4, lanes, 'k[u] = loadK(kvRow, c) * pf(5u);')}
  var v: array<vec4<f32>, ${Math.ceil(dv4 / lanes)}>;
  ${eachSlot(dv4, lanes, 'v[u] = loadV(kvRow, c);')}
  var dk: array<vec4<f32>, ${Math.ceil(d4 / lanes)}>;
  var dv: array<vec4<f32>, ${Math.ceil(dv4 / lanes)}>;
  for (var head = 0u; head < pu(3u); head++) {
    let rowBase = bg * rows + head * queries;
    for (var i0 = begin; i0 < end; i0 += ${bq}) {
      workgroupBarrier();
      for (var e = lid; e < ${bq * d4}u; e += ${threads}u) {
        let i = min(u32(i0) + e / ${d4}u, queries - 1u);
        Qs[e] = loadQ(rowBase + i, e % ${d4}u);
      }
      for (var e = lid; e < ${bq * dv4}u; e += ${threads}u) {
        let i = min(u32(i0) + e / ${dv4}u, queries - 1u);
        DOs[e] = loadDO(rowBase + i, e % ${dv4}u);
      }
      workgroupBarrier();
      for (var ii = 0u; ii < pu(9u); ii++) {
        let i = i0 + i32(ii);
        if (i < end) {
          var x = 0.0;
          ${eachSlot(d4, lanes, `x += dot(Qs[ii * ${d4}u + c], k[u]);`)}
          var dp = 0.0;
          ${eachSlot(dv4, lanes, `dp += dot(DOs[ii * ${dv4}u + c], v[u]);`)}
          x = laneSum(x);
          dp = laneSum(dp);
          if (visible(i32(j), i + offset)) {
            let row = rowBase + u32(i);
            let sc = capped(x);
            let p = exp(sc.x - LSE[row]);
            let ds = p * (dp - Delta[row]) * sc.y;
            ${eachSlot(dv4, lanes, `dv[u] = fma(vec4<f32>(p), DOs[ii * ${dv4}u + c], dv[u]);`)}
            ${eachSlot(d4, lanes, `dk[u] = fma(vec4<f32>(ds), Qs[ii * ${d4}u + c], dk[u]);`)}
          }
        }
      }
    }
  }
  if (j0 + slot < keys) {
    ${eachSlot(d4, lanes, 'storeDK(kvRow, c, dk[u] * pf(5u));')}
    ${eachSlot(dv4, lanes, 'storeDV(kvRow, c, dv[u]);')}
  }
}`;
}

/** q, k, v, o, lse, dO -> dq, dk, dv (dk, dv summed over the query heads of each KV head). */
export const flashAttentionBackwardKernel: Kernel<FlashAttentionAttrs> = ([q, k, v, o, lse, dO], attrs) => {
  const { batch, heads, groups, queries, keys, dk, dv } = attentionDims(q!, k!, v!);
  const rep = heads / groups;
  const rows = rep * queries;
  const words = attentionWords(attrs, rows, queries, keys, rep, dk, dv);
  const dq = alloc(batch * heads * queries * dk);
  const delta = alloc(batch * heads * queries);
  const dkOut = alloc(batch * groups * keys * dk);
  const dvOut = alloc(batch * groups * keys * dv);
  const gpu = runtime();
  const lanes = attentionLanes();
  gpu.dispatch(
    memoShader(`flashAttentionDq:${dk}:${dv}:${lanes}`, () => dqShader(dk, dv, lanes)),
    [buf(q!), buf(k!), buf(v!), buf(o!), buf(lse!), buf(dO!), dq.buffer, delta.buffer],
    words,
    [Math.ceil(rows / rowsPerGroup), batch * groups],
  );
  gpu.dispatch(
    memoShader(`flashAttentionDkDv:${dk}:${dv}:${lanes}`, () => dkdvShader(dk, dv, lanes)),
    [buf(q!), buf(k!), buf(v!), buf(lse!), delta.buffer, buf(dO!), dkOut.buffer, dvOut.buffer],
    words,
    [Math.ceil(keys / keysPerGroup), batch * groups],
  );
  gpu.release(delta);
  return [dq, dkOut, dvOut];
};
