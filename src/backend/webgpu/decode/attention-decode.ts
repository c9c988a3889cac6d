/**
 * Decode attention for one new token over the cached positions, flash-decoding style: the kernel
 * `attentionSplitShader` runs one workgroup per (split of the KV length, query head) and writes the
 * split's running max m, sum l and unnormalised output; `attentionCombineShader` merges the splits per
 * head. RoPE of the new q and k and the KV-cache write of position `pos` are fused into the split
 * kernel (so no separate rope or cache-write dispatch): every workgroup rotates q and the current k
 * itself from the qkv scratch, uses them for position `pos`, and one workgroup per KV head writes
 * them to the cache. Other positions (< pos) are only read, so nothing races.
 *
 * Buffers: qkv [H·hd | G·hd | G·hd] (after bias), cache K and V [G, capacity, hd], the cos/sin table
 * [capacity, R] (cos of pair i at i, sin at R/2 + i, scaling's attention factor included), partials
 * [H, splits, hd + 2]. The step uniform holds the position. With one split there is nothing to combine:
 * the split kernel writes the attention output [H·hd] in place of the partials (5 dispatches a layer).
 */
import { wgslFloat } from './matvec-fused.js';

export interface DecodeAttentionSpec {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Rotating dims per head (even, > 0). */
  rotaryDim: number;
  interleaved: boolean;
  capacity: number;
  splits: number;
  scale: number;
  /** Max and sum through subgroups of ≤ 32 consecutive invocations (FusedMatvecSpec.subgroups). */
  subgroups?: boolean;
}

/** Positions one split handles at most. */
export function maxChunk(spec: DecodeAttentionSpec): number {
  return Math.ceil(spec.capacity / spec.splits);
}

export const stepUniformWGSL = /* wgsl */ `struct Step { pos: u32, len: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> step: Step;`;

const threads = 64;

export function attentionSplitShader(spec: DecodeAttentionSpec): string {
  const { heads, kvHeads, headDim: hd, rotaryDim, interleaved, capacity, splits, scale } = spec;
  const half = rotaryDim / 2;
  const rep = heads / kvHeads;
  // One split: the workgroup sees every position and writes the normalised output [H·hd] itself.
  const single = splits === 1;
  const sg = spec.subgroups ?? false;
  // Workgroup max or sum of `value` into `result` (the same in every invocation).
  const reduce = (value: string, op: 'max' | 'add', result: string) => {
    const combine = (a: string, b: string) => (op === 'max' ? `max(${a}, ${b})` : `${a} + ${b}`);
    return sg
      ? `let ${value}Sg = ${op === 'max' ? 'subgroupMax' : 'subgroupAdd'}(${value});
  if (sid == 0u) { red[lid / sgSize] = ${value}Sg; }
  workgroupBarrier();
  var ${result} = ${op === 'max' ? '-3.0e38' : '0.0'};
  for (var j = 0u; j < ${threads}u / sgSize; j++) { ${result} = ${combine(result, 'red[j]')}; }`
      : `red[lid] = ${value};
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = ${combine('red[lid]', 'red[lid + s]')}; }
    workgroupBarrier();
  }
  let ${result} = red[0];`;
  };
  const kOff = heads * hd;
  const vOff = kOff + kvHeads * hd;
  const partner = interleaved
    ? `let i = d / 2u; let other = d ^ 1u; let sign = select(1.0, -1.0, (d & 1u) == 0u);`
    : `let i = d % ${half}u; let other = select(d - ${half}u, d + ${half}u, d < ${half}u); let sign = select(1.0, -1.0, d < ${half}u);`;
  return `${sg ? 'enable subgroups;\n' : ''}${stepUniformWGSL}
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> tab: array<f32>;
@group(0) @binding(3) var<storage, read_write> K: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;
var<workgroup> qs: array<f32, ${hd}>;
var<workgroup> kc: array<f32, ${hd}>;
var<workgroup> sc: array<f32, ${maxChunk(spec)}>;
var<workgroup> red: array<f32, ${threads}>;

// x[base + d] rotated at the table row \`row\` (cpu rope kernel: y0 = a·c − b·s, y1 = b·c + a·s).
fn rotated(base: u32, d: u32, row: u32) -> f32 {
  let x = qkv[base + d];
  if (d >= ${rotaryDim}u) { return x; }
  ${partner}
  return x * tab[row + i] + sign * qkv[base + other] * tab[row + ${half}u + i];
}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${sg ? ', @builtin(subgroup_size) sgSize: u32, @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let split = wid.x;
  let h = wid.y;
  let g = h / ${rep}u;
  let pos = step.pos;
  let len = pos + 1u;
  let row = pos * ${rotaryDim}u;
  for (var d = lid; d < ${hd}u; d += ${threads}u) {
    qs[d] = rotated(h * ${hd}u, d, row) * ${wgslFloat(scale)};
    kc[d] = rotated(${kOff}u + g * ${hd}u, d, row);
  }
  workgroupBarrier();
  let kvBase = g * ${capacity * hd}u;
  if (split == 0u && h % ${rep}u == 0u) {
    for (var d = lid; d < ${hd}u; d += ${threads}u) {
      K[kvBase + pos * ${hd}u + d] = kc[d];
      V[kvBase + pos * ${hd}u + d] = qkv[${vOff}u + g * ${hd}u + d];
    }
  }
  let chunk = (len + ${splits - 1}u) / ${splits}u;
  let start = min(split * chunk, len);
  let n = min(start + chunk, len) - start;
  for (var i = lid; i < n; i += ${threads}u) {
    let p = start + i;
    var s = 0.0;
    if (p == pos) {
      for (var d = 0u; d < ${hd}u; d++) { s += qs[d] * kc[d]; }
    } else {
      let kb = kvBase + p * ${hd}u;
      for (var d = 0u; d < ${hd}u; d++) { s += qs[d] * K[kb + d]; }
    }
    sc[i] = s;
  }
  workgroupBarrier();
  var m = -3.0e38;
  for (var i = lid; i < n; i += ${threads}u) { m = max(m, sc[i]); }
  ${reduce('m', 'max', 'mx')}
  workgroupBarrier();
  var l = 0.0;
  for (var i = lid; i < n; i += ${threads}u) { let e = exp(sc[i] - mx); sc[i] = e; l += e; }
  ${reduce('l', 'add', 'total')}
  let ob = (h * ${splits}u + split) * ${hd + 2}u;
  for (var d = lid; d < ${hd}u; d += ${threads}u) {
    var a = 0.0;
    for (var i = 0u; i < n; i++) {
      let p = start + i;
      var v: f32;
      if (p == pos) { v = qkv[${vOff}u + g * ${hd}u + d]; } else { v = V[kvBase + p * ${hd}u + d]; }
      a += sc[i] * v;
    }
    ${single ? `part[h * ${hd}u + d] = a / total;` : 'part[ob + 2u + d] = a;'}
  }
  ${
    single
      ? ''
      : `if (lid == 0u) {
    part[ob] = mx;
    part[ob + 1u] = total;
  }`
  }
}`;
}

/** Merges the splits of each head: out[h·hd + d] = Σ_s e^(m_s − M) acc_s[d] / Σ_s e^(m_s − M) l_s. */
export function attentionCombineShader(spec: DecodeAttentionSpec): string {
  const { headDim: hd, splits } = spec;
  return `@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let base = h * ${splits * (hd + 2)}u;
  var mx = -3.0e38;
  for (var s = 0u; s < ${splits}u; s++) { mx = max(mx, part[base + s * ${hd + 2}u]); }
  var l = 0.0;
  for (var s = 0u; s < ${splits}u; s++) {
    let o = base + s * ${hd + 2}u;
    l += exp(part[o] - mx) * part[o + 1u];
  }
  for (var d = lid; d < ${hd}u; d += ${threads}u) {
    var a = 0.0;
    for (var s = 0u; s < ${splits}u; s++) {
      let o = base + s * ${hd + 2}u;
      a += exp(part[o] - mx) * part[o + 2u + d];
    }
    out[h * ${hd}u + d] = a / l;
  }
}`;
}

/** x = E[token] (the token id in tokens[0], written by the host or the previous step's argmax). */
export function embeddingShader(hidden: number): string {
  return `@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> E: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 256u + lid;
  if (i < ${hidden}u) { x[i] = E[tokens[0] * ${hidden}u + i]; }
}`;
}

/** Final argmax over the LM head's per-workgroup (max, index) pairs; ties go to the lower index. */
export function argmaxCombineShader(blocks: number): string {
  return `@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
var<workgroup> vals: array<f32, 256>;
var<workgroup> idxs: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var bv = -3.0e38;
  var bi = 4.0e9;
  for (var b = lid; b < ${blocks}u; b += 256u) {
    let v = partial[2u * b];
    let i = partial[2u * b + 1u];
    if (v > bv || (v == bv && i < bi)) { bv = v; bi = i; }
  }
  vals[lid] = bv;
  idxs[lid] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let v = vals[lid + s];
      let i = idxs[lid + s];
      if (v > vals[lid] || (v == vals[lid] && i < idxs[lid])) { vals[lid] = v; idxs[lid] = i; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { tokens[0] = u32(idxs[0]); }
}`;
}
