/**
 * Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3) for one new token in a planned decode step,
 * with the absorbed weights: the cache holds only the normalised latent c [capacity, r] and the rotated
 * shared key k_pe [capacity, ρ] (the eager path's KVCache layout), and per head
 *
 *   q_lat = W_UK[h]ᵀ q_nope[h]                    (r values; W_UK = kv_b_proj rows h·(n+v) … +n)
 *   s_p   = scale · (q_lat · c_p + q_pe[h] · k_pe_p)
 *   o_lat = Σ_p softmax(s)_p c_p                  (r values)
 *   out_h = W_UV[h] o_lat                         (v values; W_UV = the next v rows)
 *
 * `mlaAbsorbShader` computes q_lat once per step. `mlaSplitShader`: one workgroup per (split of the
 * positions, head): the new position's latent (RMSNorm of kv_a's first r values with kv_a_layernorm)
 * and rotated k_pe are computed in every workgroup (the one holding the position writes them to the
 * cache), q_pe is rotated, then the split's running max, sum and unnormalised o_lat go to the partials
 * [H, splits, r + 2]. `mlaCombineShader`: one workgroup per (head, 8 rows of W_UV) merges the filled
 * splits and applies those rows. Soft-caps and sliding windows are not planned for MLA (decode-support.ts).
 */
import { scorePassEnd, stepUniformWGSL, workgroupSum } from './attention-decode.js';
import { wgslFloat } from './matvec-fused.js';

export interface MlaDecodeSpec {
  heads: number;
  /** q/k dims without RoPE (n), with RoPE (ρ), value dims (v), latent rank (r). */
  nope: number;
  rope: number;
  vHeadDim: number;
  rank: number;
  interleaved: boolean;
  capacity: number;
  splits: number;
  scale: number;
  /** eps of kv_a_layernorm. */
  latentEps: number;
  /** Offsets of q [H·(n + ρ)] and of kv_a [r + ρ] in their buffers (they may share one). */
  qOffset: number;
  kvaOffset: number;
}

const threads = 64;
const positionsPerPass = 16;

/** Workgroups of the absorbed-query dispatch: one per (head, 256 latent dims). */
export function mlaAbsorbGroups(spec: MlaDecodeSpec): number {
  return spec.heads * Math.ceil(spec.rank / 256);
}

/**
 * The absorbed, scaled queries q_lat[h][e] = scale · Σ_d q_nope[h][d] · W_UK[h][d][e] once per step,
 * one invocation per (head, e): consecutive invocations read consecutive e of a W_UK row (coalesced),
 * the n terms unrolled by 8 so that their loads overlap. (Computed inside every split workgroup of
 * the attention kernel before, it made that kernel the layer's slowest.)
 * Bindings: q, kv_b_proj weight, out [H, r].
 */
export function mlaAbsorbShader(spec: MlaDecodeSpec): string {
  const { nope, rope, vHeadDim: v, rank: r, scale } = spec;
  const blocks = Math.ceil(r / 256);
  const unroll = nope % 8 === 0 ? 8 : 1;
  const terms = Array.from(
    { length: unroll },
    (_, u) => `q[qb + d + ${u}u] * wkvb[wb + (d + ${u}u) * ${r}u]`,
  ).join(' + ');
  return `@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> wkvb: array<f32>;
@group(0) @binding(3) var<storage, read_write> qabs: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x / ${blocks}u;
  let e0 = (wid.x % ${blocks}u) * 256u + lid;
  let e = min(e0, ${r - 1}u);
  let qb = ${spec.qOffset}u + h * ${nope + rope}u;
  let wb = h * ${(nope + v) * r}u + e;
  var a = 0.0;
  for (var d = 0u; d < ${nope}u; d += ${unroll}u) { a += ${terms}; }
  if (e0 < ${r}u) { qabs[h * ${r}u + e] = a * ${wgslFloat(scale)}; }
}`;
}

export function mlaChunk(spec: MlaDecodeSpec): number {
  return Math.ceil(spec.capacity / spec.splits);
}

/** Bindings: step, q, kva, rope table [capacity, ρ], kv_a_layernorm weight, absorbed queries [H, r], latent cache, k_pe cache, partials. */
export function mlaSplitShader(spec: MlaDecodeSpec): string {
  const { nope, rope, rank: r, capacity, splits, scale } = spec;
  const half = rope / 2;
  const chunk = mlaChunk(spec);
  const passes = Math.ceil(chunk / positionsPerPass);
  const lanes = threads / positionsPerPass;
  const qStride = nope + rope;
  // The latent cache as vec4s where r % 4 = 0: a quarter of the loads in the score pass (its dot over
  // the rank is most of the kernel's time).
  const vec = r % 4 === 0;
  const rv = vec ? r / 4 : r;
  const scoreTrips = Math.ceil(rv / lanes);
  const latentAt = (index: string) => (vec ? `L[(${index}) / 4u][(${index}) % 4u]` : `L[${index}]`);
  const partner = spec.interleaved
    ? `let i = d / 2u; let other = d ^ 1u; let sign = select(1.0, -1.0, (d & 1u) == 0u);`
    : `let i = d % ${half}u; let other = select(d - ${half}u, d + ${half}u, d < ${half}u); let sign = select(1.0, -1.0, d < ${half}u);`;
  return `${stepUniformWGSL}
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kva: array<f32>;
@group(0) @binding(3) var<storage, read> tab: array<f32>;
@group(0) @binding(4) var<storage, read> lnw: array<f32>;
@group(0) @binding(5) var<storage, read> qabs: array<f32>;
@group(0) @binding(6) var<storage, read_write> L: array<${vec ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(7) var<storage, read_write> P: array<f32>;
@group(0) @binding(8) var<storage, read_write> part: array<f32>;
var<workgroup> ql: array<f32, ${r}>;
var<workgroup> qr: array<f32, ${rope}>;
var<workgroup> cn: array<f32, ${r}>;
var<workgroup> kr: array<f32, ${rope}>;
var<workgroup> sc: array<f32, ${passes * positionsPerPass}>;
var<workgroup> red: array<f32, ${threads}>;

// x[base + d] rotated at the table row \`row\` (as the eager rope kernel).
fn rotatedQ(base: u32, d: u32, row: u32) -> f32 {
  ${partner}
  return q[base + d] * tab[row + i] + sign * q[base + other] * tab[row + ${half}u + i];
}
fn rotatedK(base: u32, d: u32, row: u32) -> f32 {
  ${partner}
  return kva[base + d] * tab[row + i] + sign * kva[base + other] * tab[row + ${half}u + i];
}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let h = wid.y;
  let pos = step.pos;
  let len = pos + 1u;
  let start = split * ${chunk}u;
  if (start >= len) { return; }
  let n = min(len - start, ${chunk}u);
  let row = pos * ${rope}u;
  let qb = ${spec.qOffset}u + h * ${qStride}u;
  for (var e = lid; e < ${r}u; e += ${threads}u) { cn[e] = kva[${spec.kvaOffset}u + e]; }
  for (var d = lid; d < ${rope}u; d += ${threads}u) {
    qr[d] = rotatedQ(qb + ${nope}u, d, row) * ${wgslFloat(scale)};
    kr[d] = rotatedK(${spec.kvaOffset + r}u, d, row);
  }
  workgroupBarrier();
  // Sums over the latent as trees over the workgroup (a serial loop over r = 512 in every invocation
  // was most of this kernel's time): Σc² for the latent norm, then the new position's own score.
  var ss = 0.0;
  for (var e = lid; e < ${r}u; e += ${threads}u) { ss += cn[e] * cn[e]; }
  ${workgroupSum('ss', 'sumSq', threads)}
  let inv = 1.0 / sqrt(sumSq / ${wgslFloat(r)} + ${wgslFloat(spec.latentEps)});
  var own = 0.0;
  for (var e = lid; e < ${r}u; e += ${threads}u) {
    cn[e] = cn[e] * inv * lnw[e];
    ql[e] = qabs[h * ${r}u + e]; // absorbed and scaled by mlaAbsorbShader
    own += ql[e] * cn[e];
  }
  for (var d = lid; d < ${rope}u; d += ${threads}u) { own += qr[d] * kr[d]; }
  ${workgroupSum('own', 'selfScore', threads)}
  if (h == 0u && pos >= start && pos < start + n) {
    ${
      vec
        ? `for (var e = lid; e < ${rv}u; e += ${threads}u) { L[pos * ${rv}u + e] = vec4<f32>(cn[4u * e], cn[4u * e + 1u], cn[4u * e + 2u], cn[4u * e + 3u]); }`
        : `for (var e = lid; e < ${r}u; e += ${threads}u) { L[pos * ${r}u + e] = cn[e]; }`
    }
    for (var d = lid; d < ${rope}u; d += ${threads}u) { P[pos * ${rope}u + d] = kr[d]; }
  }
  let lane = lid % ${lanes}u;
  for (var ps = 0u; ps < ${passes}u; ps++) {
    let i = ps * ${positionsPerPass}u + lid / ${lanes}u;
    let p = min(start + i, ${capacity - 1}u);
    var s = 0.0;
    for (var t = 0u; t < ${scoreTrips}u; t++) {
      let e0 = lane + t * ${lanes}u;
      let e = min(e0, ${rv - 1}u);
      ${
        vec
          ? `let term = dot(vec4<f32>(ql[4u * e], ql[4u * e + 1u], ql[4u * e + 2u], ql[4u * e + 3u]), L[p * ${rv}u + e]);`
          : `let term = ql[e] * L[p * ${r}u + e];`
      }
      s += select(0.0, term, e0 < ${rv}u);
    }
    for (var d = lane; d < ${rope}u; d += ${lanes}u) { s += qr[d] * P[p * ${rope}u + d]; }
    ${scorePassEnd('t = selfScore;', '', '')}
  }
  var mx = -3.0e38;
  for (var i = 0u; i < ${passes * positionsPerPass}u; i++) { mx = max(mx, sc[i]); }
  workgroupBarrier();
  // The weights e^(s − max) once, in place (masked positions give 0), for every invocation's P·C.
  for (var i = lid; i < ${passes * positionsPerPass}u; i += ${threads}u) { sc[i] = exp(sc[i] - mx); }
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < ${passes * positionsPerPass}u; i++) { total += sc[i]; }
  let ob = (h * ${splits}u + split) * ${r + 2}u;
  for (var e = lid; e < ${r}u; e += ${threads}u) {
    var a = 0.0;
    for (var i = 0u; i < ${passes * positionsPerPass}u; i++) {
      let p = start + i;
      let c = select(${latentAt(`min(p, ${capacity - 1}u) * ${r}u + e`)}, cn[e], p == pos);
      a += sc[i] * c;
    }
    part[ob + 2u + e] = a;
  }
  if (lid == 0u) {
    part[ob] = mx;
    part[ob + 1u] = total;
  }
}`;
}

/** Rows of W_UV one combine workgroup computes (32 lanes each). */
export const mlaCombineRows = 8;

/** Workgroups of the combine·W_UV dispatch: one per (head, block of 8 output rows). */
export function mlaCombineGroups(spec: MlaDecodeSpec): number {
  return spec.heads * Math.ceil(spec.vHeadDim / mlaCombineRows);
}

/**
 * One workgroup per (head, block of 8 rows of W_UV): merges the head's filled splits' latent outputs
 * into workgroup memory, then 32 lanes a row take W_UV's dot with it:
 * out[h·v + j] = Σ_e W_UV[h][j][e] · (Σ_s e^(m_s − M) acc_s[e] / Σ_s e^(m_s − M) l_s).
 * (Each workgroup repeats the head's merge, ~splits·rank reads, so that the dots spread over many
 * workgroups: one workgroup per head made it the slowest kernel of the layer.)
 * Bindings: step, partials, kv_b_proj weight, out [H·v].
 */
export function mlaCombineShader(spec: MlaDecodeSpec): string {
  const { nope, vHeadDim: v, rank: r, splits } = spec;
  const chunk = mlaChunk(spec);
  const blocks = Math.ceil(v / mlaCombineRows);
  const trips = Math.ceil(r / 32);
  return `${stepUniformWGSL}
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> wkvb: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
var<workgroup> ol: array<f32, ${r}>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x / ${blocks}u;
  let base = h * ${splits * (r + 2)}u;
  let filled = min((step.pos + ${chunk}u) / ${chunk}u, ${splits}u);
  var mx = -3.0e38;
  for (var s = 0u; s < filled; s++) { mx = max(mx, part[base + s * ${r + 2}u]); }
  var l = 0.0;
  for (var s = 0u; s < filled; s++) {
    let o = base + s * ${r + 2}u;
    l += exp(part[o] - mx) * part[o + 1u];
  }
  for (var e = lid; e < ${r}u; e += 256u) {
    var a = 0.0;
    for (var s = 0u; s < filled; s++) {
      let o = base + s * ${r + 2}u;
      a += exp(part[o] - mx) * part[o + 2u + e];
    }
    ol[e] = a / l;
  }
  workgroupBarrier();
  let lane = lid % 32u;
  let j = (wid.x % ${blocks}u) * ${mlaCombineRows}u + lid / 32u;
  let w = (h * ${nope + v}u + ${nope}u + min(j, ${v - 1}u)) * ${r}u;
  var a = 0.0;
  for (var t = 0u; t < ${trips}u; t++) {
    let e0 = lane + t * 32u;
    let e = min(e0, ${r - 1}u);
    a += select(0.0, wkvb[w + e] * ol[e], e0 < ${r}u);
  }
  red[lid] = a;
  workgroupBarrier();
  for (var s = 16u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && j < ${v}u) { out[h * ${v}u + j] = red[lid]; }
}`;
}
