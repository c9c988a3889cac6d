/**
 * Mixture-of-experts FFN for one token in a planned decode step (DeepSeek-V2/V3 style), matching the
 * eager moeFFN: router scores (softmax or sigmoid of gate·x̂), top-k experts (ties to the lower id;
 * optional correction bias and group-limited selection as the cpu routeTopK kernel does), weights =
 * the selected scores (renormalised when asked, times the routed scaling factor), then
 * Σ_selected w_e · FFN_e(x̂) in ascending expert order, plus the shared experts' FFN, added to x.
 *
 *   routeShader        [1 group]   logits [E] → route: k expert ids (ascending) and their weights
 *   expertUpShader     [k·⌈I/8⌉]   h[j·I + r] = SiLU(gate_e·x̂)·(up_e·x̂) for e = the j-th selected
 *                                  expert (gate/up of every expert stacked in one buffer, [E·I, d])
 *   expertDownShader   [⌈d/8⌉]     x[row] += Σ_j w_j · down_e[row]·h_j (+ shared[row])
 *
 * x̂ = RMSNorm(x)·w is recomputed per workgroup (cheap at batch 1). Route buffer layout: ids (as f32
 * bit patterns) at [0, k), weights at [k, 2k).
 */
import type { MoEConfig } from '../../../config/model-config.js';
import { packedDotWGSL } from './half.js';
import { wgslFloat } from './matvec-fused.js';

/** One invocation routes (E is small); the others idle. */
export function routeShader(moe: MoEConfig): string {
  const E = moe.numExperts;
  const k = moe.numExpertsPerToken;
  const groups = moe.groupLimit?.numGroups ?? 1;
  const size = E / groups;
  const groupCode =
    groups > 1
      ? `// Group-limited routing: keep the topkGroup groups with the best scores, zero the others.
    var gscore: array<f32, ${groups}>;
    for (var g = 0u; g < ${groups}u; g++) {
      var b1 = -3.0e38;
      var b2 = -3.0e38;
      for (var j = g * ${size}u; j < (g + 1u) * ${size}u; j++) {
        let v = choice[j];
        if (v > b1) { b2 = b1; b1 = v; } else if (v > b2) { b2 = v; }
      }
      gscore[g] = ${moe.groupLimit!.groupScore === 'max' ? 'b1' : `b1 + select(0.0, b2, ${size}u > 1u)`};
    }
    var keep: array<bool, ${groups}>;
    for (var t = 0u; t < ${moe.groupLimit!.topkGroup}u; t++) {
      var best = 0u;
      var found = false;
      for (var g = 0u; g < ${groups}u; g++) {
        if (!keep[g] && (!found || gscore[g] > gscore[best])) { best = g; found = true; }
      }
      keep[best] = true;
    }
    for (var j = 0u; j < ${E}u; j++) { if (!keep[j / ${size}u]) { choice[j] = 0.0; } }`
      : '';
  return `@group(0) @binding(1) var<storage, read> logits: array<f32>;
${moe.correctionBias ? '@group(0) @binding(3) var<storage, read> corr: array<f32>;' : ''}
@group(0) @binding(2) var<storage, read_write> route: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var scores: array<f32, ${E}>;
  var choice: array<f32, ${E}>;
  ${
    moe.scoringFunc === 'softmax'
      ? `var mx = -3.0e38;
  for (var j = 0u; j < ${E}u; j++) { mx = max(mx, logits[j]); }
  var total = 0.0;
  for (var j = 0u; j < ${E}u; j++) { scores[j] = exp(logits[j] - mx); total += scores[j]; }
  for (var j = 0u; j < ${E}u; j++) { scores[j] = scores[j] / total; }`
      : `for (var j = 0u; j < ${E}u; j++) { scores[j] = 1.0 / (1.0 + exp(-logits[j])); }`
  }
  for (var j = 0u; j < ${E}u; j++) { choice[j] = scores[j]${moe.correctionBias ? ' + corr[j]' : ''}; }
  ${groupCode}
  // Top-k by (choice desc, id asc).
  var chosen: array<bool, ${E}>;
  for (var t = 0u; t < ${k}u; t++) {
    var best = 0u;
    var found = false;
    for (var j = 0u; j < ${E}u; j++) {
      if (!chosen[j] && (!found || choice[j] > choice[best])) { best = j; found = true; }
    }
    chosen[best] = true;
  }
  var sum = 0.0;
  for (var j = 0u; j < ${E}u; j++) { if (chosen[j]) { sum += scores[j]; } }
  var at = 0u;
  for (var j = 0u; j < ${E}u; j++) {
    if (chosen[j]) {
      var w = scores[j];
      ${moe.normTopkProb ? 'w = w / (sum + 1e-20);' : ''}
      route[at] = bitcast<f32>(j);
      route[${k}u + at] = w * ${wgslFloat(moe.routedScalingFactor)};
      at += 1u;
    }
  }
}`;
}

/** Shared RMSNorm prologue: x̂ into workgroup memory xs (256 invocations). */
function normPrologue(d: number, eps: number, plusOne: boolean): string {
  return `var ss = 0.0;
  for (var i = lid; i < ${d}u; i += 256u) { let v = x[i]; ss += v * v; }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / ${wgslFloat(d)} + ${wgslFloat(eps)});
  for (var i = lid; i < ${d}u; i += 256u) { xs[i] = x[i] * inv * ${plusOne ? '(nw[i] + 1.0)' : 'nw[i]'}; }
  workgroupBarrier();`;
}

/** Lane sums of the 8 rows (32 lanes each) through workgroup memory; row sums at lane 0. */
const laneTree = (v: string) => `red[lid] = ${v};
  workgroupBarrier();
  for (var s = 16u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }`;

/**
 * How a kernel reads a weight row of `n` values: 8 packed bf16 per vec4<u32> (n % 8 = 0), vec4<f32>
 * (n % 4 = 0) or scalars; `dot(w, i)` takes the row's item `i` against `x(j)`, the input's j-th vec4
 * (or scalar).
 */
function rowVectors(
  n: number,
  format: 'f32' | 'bf16' = 'f32',
): { type: string; count: number; dot: (w: string, i: string, x: (j: string) => string) => string } {
  if (format === 'bf16')
    return {
      type: 'vec4<u32>',
      count: n / 8,
      dot: (w, i, x) => `dotPacked(${w}, ${x(`2u * ${i}`)}, ${x(`2u * ${i} + 1u`)})`,
    };
  return n % 4 === 0
    ? { type: 'vec4<f32>', count: n / 4, dot: (w, i, x) => `dot(${w}, ${x(i)})` }
    : { type: 'f32', count: n, dot: (w, i, x) => `(${w} * ${x(i)})` };
}

/**
 * A lane's constant-trip stride over `count` items (32 lanes a row): `body(q)` reads item q (clamped),
 * its term is masked past the end. No branch in the loop, so the loads of many trips can be in flight.
 */
function laneStride(count: number, body: (q: string) => string): string {
  const trips = Math.ceil(count / 32);
  return `for (var t = 0u; t < ${trips}u; t++) {
    let q0 = lane + t * 32u;
    let q = min(q0, ${count - 1}u);
    a += select(0.0, ${body('q')}, q0 < ${count}u);
  }`;
}

/**
 * Routed experts' gate/up with SiLU: one workgroup per (routed slot, block of 8 rows), 32 lanes a row
 * over the normalised input in workgroup memory (vec4 loads where d % 4 = 0).
 * Bindings: x, norm weight, route, stacked gate [E·I, d], stacked up [E·I, d], h [k·I].
 */
export function expertUpShader(
  d: number,
  inter: number,
  _k: number,
  eps: number,
  plusOne: boolean,
  format: 'f32' | 'bf16' = 'f32',
): string {
  const blocks = Math.ceil(inter / 8);
  const row = rowVectors(d, format);
  const xs4 = d % 4 === 0 ? 'xs4' : 'xs';
  return `${format === 'bf16' ? packedDotWGSL('bf16') : ''}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> nw: array<f32>;
@group(0) @binding(3) var<storage, read> route: array<f32>;
@group(0) @binding(4) var<storage, read> wg: array<${row.type}>;
@group(0) @binding(5) var<storage, read> wu: array<${row.type}>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;
var<workgroup> xs: array<f32, ${d}>;
${d % 4 === 0 ? `var<workgroup> xs4: array<vec4<f32>, ${d / 4}>;` : ''}
var<workgroup> red: array<f32, 256>;
var<workgroup> gsum: array<f32, 8>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${normPrologue(d, eps, plusOne)}
  ${
    d % 4 === 0
      ? `for (var i = lid; i < ${d / 4}u; i += 256u) { xs4[i] = vec4<f32>(xs[4u * i], xs[4u * i + 1u], xs[4u * i + 2u], xs[4u * i + 3u]); }
  workgroupBarrier();`
      : ''
  }
  let slot = wid.x / ${blocks}u;
  let e = bitcast<u32>(route[slot]);
  let r = (wid.x % ${blocks}u) * 8u + lid / 32u;
  let lane = lid % 32u;
  let live = r < ${inter}u;
  let base = (e * ${inter}u + min(r, ${inter - 1}u)) * ${row.count}u;
  var ag = 0.0;
  var au = 0.0;
  for (var t = 0u; t < ${Math.ceil(row.count / 32)}u; t++) {
    let q0 = lane + t * 32u;
    let q = min(q0, ${row.count - 1}u);
    let m = select(0.0, 1.0, q0 < ${row.count}u);
    ag += m * ${row.dot('wg[base + q]', 'q', (j) => `${xs4}[${j}]`)};
    au += m * ${row.dot('wu[base + q]', 'q', (j) => `${xs4}[${j}]`)};
  }
  ${laneTree('ag')}
  if (lane == 0u) { gsum[lid / 32u] = red[lid]; }
  workgroupBarrier();
  ${laneTree('au')}
  if (lane == 0u && live) {
    let g = gsum[lid / 32u];
    h[slot * ${inter}u + r] = g / (1.0 + exp(-g)) * red[lid];
  }
}`;
}

/**
 * The routed experts' down projections, weighted by their routing weights, plus the shared experts'
 * down projection, added to the residual: one row per 32 lanes, which stride over all k experts'
 * inputs at once (k·I values, vec4 loads where I % 4 = 0), so the experts' loads overlap instead of
 * running one expert after another.
 * Bindings: route, stacked down [E·d, I], h [k·I], x (residual, updated), then with shared experts
 * their down [d, Is] and hidden [Is].
 */
export function expertDownShader(
  d: number,
  inter: number,
  k: number,
  sharedInter: number,
  format: 'f32' | 'bf16' = 'f32',
): string {
  const shared = sharedInter > 0;
  const row = rowVectors(inter, format);
  // The routed hidden vector h [k·I]: vec4s where I % 4 = 0 (always when the weights are packed).
  const hv = inter % 4 === 0 ? 'vec4<f32>' : 'f32';
  const srow = rowVectors(Math.max(1, sharedInter));
  const per = row.count;
  return `${format === 'bf16' ? packedDotWGSL('bf16') : ''}
@group(0) @binding(1) var<storage, read> route: array<f32>;
@group(0) @binding(2) var<storage, read> wd: array<${row.type}>;
@group(0) @binding(3) var<storage, read> h: array<${hv}>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
${
  shared
    ? `@group(0) @binding(5) var<storage, read> wds: array<${srow.type}>;
@group(0) @binding(6) var<storage, read> hs: array<${srow.type}>;`
    : ''
}
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x * 8u + lid / 32u;
  let lane = lid % 32u;
  let rc = min(row, ${d - 1}u);
  var a = 0.0;
  ${laneStride(k * per, (q) => `route[${k}u + ${q} / ${per}u] * ${row.dot(`wd[(bitcast<u32>(route[${q} / ${per}u]) * ${d}u + rc) * ${per}u + ${q} % ${per}u]`, q, (j) => `h[${j}]`)}`)}
  ${shared ? laneStride(srow.count, (q) => srow.dot(`wds[rc * ${srow.count}u + ${q}]`, q, (j) => `hs[${j}]`)) : ''}
  ${laneTree('a')}
  if (lane == 0u && row < ${d}u) {
    x[row] = x[row] + red[lid];
  }
}`;
}
