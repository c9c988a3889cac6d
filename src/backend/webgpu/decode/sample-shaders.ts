/**
 * WGSL of the GPU sampler's three passes (scores, candidates, draw); sample.ts has the algorithm, the
 * bindings' meaning and the GpuSampler that owns the buffers and dispatches.
 */

const WG = 256;
/** Candidates the draw pass holds in workgroup memory (more: it works on the whole row). */
export const sampleCandidateCap = 1024;

/** Ids per workgroup of the scores/candidates passes: 256·E with E chosen so that NB ≤ 1024. */
export function sampleBlock(vocab: number): number {
  return WG * Math.max(1, Math.ceil(vocab / (WG * sampleCandidateCap)));
}

/** Workgroup (max, first index) of each invocation's (m, mi) into redF[0], redU[0]; ties to the lower id. */
const argmaxTree = /* wgsl */ `  redF[lid] = m;
  redU[lid] = mi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let v = redF[lid + s];
      let i = redU[lid + s];
      if (i != NONE && (redU[lid] == NONE || v > redF[lid] || (v == redF[lid] && i < redU[lid]))) {
        redF[lid] = v;
        redU[lid] = i;
      }
    }
    workgroupBarrier();
  }`;

const common = /* wgsl */ `
struct Params { temperature: f32, penalty: f32, topPTail: f32, minP: f32, topK: u32, flags: u32, pad0: u32, pad1: u32 }
const WG = ${WG}u;
const FLT_MAX = 0x1.fffffep+127f;
const NONE = 0xffffffffu;
var<workgroup> redF: array<f32, ${WG}>;
var<workgroup> redU: array<u32, ${WG}>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> bcast: array<u32, 4>;

// Order-preserving key of a float (a < b ⇔ okey(a) < okey(b)); -0 and +0 share a key, as they compare
// equal on the host (same probability, ordered by id).
fn okey(x: f32) -> u32 {
  let b = select(bitcast<u32>(x), 0u, bitcast<u32>(x) == 0x80000000u);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn fromKey(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}
fn sumAll(lid: u32, v: f32) -> f32 {
  redF[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { redF[lid] += redF[lid + s]; }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&redF[0]);
  workgroupBarrier();
  return r;
}
fn countAll(lid: u32, v: u32) -> u32 {
  redU[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { redU[lid] += redU[lid + s]; }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&redU[0]);
  workgroupBarrier();
  return r;
}
// Inclusive prefix sum over invocations (Hillis–Steele); the total is left in redU[WG - 1].
fn scanU(lid: u32, v: u32) -> u32 {
  redU[lid] = v;
  workgroupBarrier();
  for (var o = 1u; o < WG; o <<= 1u) {
    var t = 0u;
    if (lid >= o) { t = redU[lid - o]; }
    workgroupBarrier();
    redU[lid] += t;
    workgroupBarrier();
  }
  return redU[lid];
}
fn scanF(lid: u32, v: f32) -> f32 {
  redF[lid] = v;
  workgroupBarrier();
  for (var o = 1u; o < WG; o <<= 1u) {
    var t = 0.0;
    if (lid >= o) { t = redF[lid - o]; }
    workgroupBarrier();
    redF[lid] += t;
    workgroupBarrier();
  }
  return redF[lid];
}
// Key of the kth largest (1-based) of itemKey(0..count) by radix select, most significant byte first.
fn selectKth(lid: u32, count: u32, kth: u32) -> u32 {
  var prefix = 0u;
  var remaining = kth;
  for (var byteIndex = 0u; byteIndex < 4u; byteIndex++) {
    let shift = 24u - 8u * byteIndex;
    let high = select(0u, 0xffffffffu << (shift + 8u), byteIndex > 0u);
    atomicStore(&hist[lid], 0u);
    workgroupBarrier();
    for (var j = lid; j < count; j += WG) {
      let k = itemKey(j);
      if ((k & high) == prefix) { atomicAdd(&hist[(k >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    // Invocation i holds digit 255 - i: the inclusive scan counts keys with a digit ≥ it.
    let c = atomicLoad(&hist[255u - lid]);
    let incl = scanU(lid, c);
    if (incl - c < remaining && remaining <= incl) {
      bcast[0] = 255u - lid;
      bcast[1] = remaining - (incl - c);
    }
    let digit = workgroupUniformLoad(&bcast[0]);
    remaining = workgroupUniformLoad(&bcast[1]);
    workgroupBarrier();
    prefix |= digit << shift;
  }
  return prefix;
}
`;

/** Pass 1 (NB workgroups): bindings params, logits, tokens, presence, scores, stats. */
export function sampleScoresShader(vocab: number): string {
  const block = sampleBlock(vocab);
  const perThread = block / WG;
  return /* wgsl */ `${common}
const V = ${vocab}u;
const E = ${perThread}u;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(4) var<storage, read> presence: array<u32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<vec4<u32>>;
fn itemKey(j: u32) -> u32 { return 0u; }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  let input = tokens[0];
  let penalize = (params.flags & 2u) != 0u;
  let sample = (params.flags & 1u) != 0u;
  var xs: array<f32, E>;
  var m = -FLT_MAX;
  var mi = NONE;
  for (var e = 0u; e < E; e++) {
    let i = b * ${block}u + e * WG + lid;
    if (i < V) {
      var x = logits[i];
      if (penalize && (i == input || (presence[i >> 5u] & (1u << (i & 31u))) != 0u)) {
        x = select(x / params.penalty, x * params.penalty, x < 0.0);
      }
      if (sample) { x = x / params.temperature; }
      scores[i] = x;
      xs[e] = x;
      if (mi == NONE || x > m) { m = x; mi = i; }
    }
  }
${argmaxTree}
  let blockMax = workgroupUniformLoad(&redF[0]);
  let blockArg = redU[0];
  workgroupBarrier();
  var z = 0.0;
  for (var e = 0u; e < E; e++) {
    if (b * ${block}u + e * WG + lid < V) { z += exp(xs[e] - blockMax); }
  }
  let total = sumAll(lid, z);
  if (lid == 0u) { stats[b] = vec4<u32>(bitcast<u32>(blockMax), blockArg, bitcast<u32>(total), 0u); }
}`;
}

/** Pass 2, top-k only (NB workgroups): bindings params, scores, stats, candidates, counts. */
export function sampleCandidatesShader(vocab: number): string {
  const block = sampleBlock(vocab);
  const blocks = Math.ceil(vocab / block);
  return /* wgsl */ `${common}
const V = ${vocab}u;
const NB = ${blocks}u;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> scores: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> candidates: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;
var<workgroup> maxKeys: array<u32, NB>;
fn itemKey(j: u32) -> u32 { return maxKeys[j]; }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  for (var j = lid; j < NB; j += WG) { maxKeys[j] = okey(bitcast<f32>(stats[j].x)); }
  workgroupBarrier();
  var lowerBound = 0u;
  if (params.topK <= NB) { lowerBound = selectKth(lid, NB, params.topK); }
  var base = 0u;
  for (var e = 0u; e < ${block / WG}u; e++) {
    let i = b * ${block}u + e * WG + lid;
    var keep = 0u;
    var x = 0.0;
    if (i < V) {
      x = scores[i];
      keep = select(0u, 1u, okey(x) >= lowerBound);
    }
    let incl = scanU(lid, keep);
    if (keep == 1u) { candidates[b * ${block}u + base + incl - 1u] = vec2<u32>(bitcast<u32>(x), i); }
    base += workgroupUniformLoad(&redU[WG - 1u]);
    workgroupBarrier();
  }
  if (lid == 0u) { counts[b] = base; }
}`;
}

/**
 * Pass 3 (one workgroup): bindings step (u at word 2), params, tokens, presence, scores, stats,
 * candidates, counts.
 */
export function sampleDrawShader(vocab: number): string {
  const block = sampleBlock(vocab);
  const blocks = Math.ceil(vocab / block);
  const cap = sampleCandidateCap;
  return /* wgsl */ `${common}
const V = ${vocab}u;
const NB = ${blocks}u;
const CAP = ${cap}u;
struct Step { pos: u32, len: u32, u: f32, pad: u32 }
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> presence: array<u32>;
@group(0) @binding(4) var<storage, read> scores: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> candidates: array<vec2<u32>>;
@group(0) @binding(7) var<storage, read> counts: array<u32>;
var<workgroup> itemBits: array<u32, CAP>;
var<workgroup> itemIds: array<u32, CAP>;
var<workgroup> offsets: array<u32, NB>;
var<workgroup> chosen: array<atomic<u32>, 2>;
// Items: the gathered candidates (small) or the whole scores row (item j is id j).
var<private> small: bool;
fn itemScore(j: u32) -> f32 {
  if (small) { return bitcast<f32>(itemBits[j]); }
  return scores[j];
}
fn itemId(j: u32) -> u32 {
  if (small) { return itemIds[j]; }
  return j;
}
fn itemKey(j: u32) -> u32 { return okey(itemScore(j)); }
// Σ exp(s − max) over the items that survive top-k (s ≥ topK) with key ≤ below.
fn massUpTo(lid: u32, count: u32, below: u32, maxScore: f32, topK: f32) -> f32 {
  var s = 0.0;
  for (var j = lid; j < count; j += WG) {
    let x = itemScore(j);
    if (x >= topK && okey(x) <= below) { s += exp(x - maxScore); }
  }
  return sumAll(lid, s);
}
// Items surviving top-k with key = key and id ≤ lastId.
fn tiesUpTo(lid: u32, count: u32, key: u32, lastId: u32, topK: f32) -> u32 {
  var c = 0u;
  for (var j = lid; j < count; j += WG) {
    let x = itemScore(j);
    if (x >= topK && okey(x) == key && itemId(j) <= lastId) { c++; }
  }
  return countAll(lid, c);
}
fn kept(x: f32, id: u32, maxScore: f32, topK: f32, cutKey: u32, cutId: u32) -> bool {
  let k = okey(x);
  return x >= topK && (k > cutKey || (k == cutKey && id >= cutId)) && exp(x - maxScore) >= params.minP;
}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let input = tokens[0];
  // Global max (first argmax) and Σexp(s − max) from the block stats.
  var m = -FLT_MAX;
  var mi = NONE;
  for (var b = lid; b < NB; b += WG) {
    let v = bitcast<f32>(stats[b].x);
    if (mi == NONE || v > m) { m = v; mi = stats[b].y; }
  }
${argmaxTree}
  let maxScore = workgroupUniformLoad(&redF[0]);
  let argmax = redU[0];
  workgroupBarrier();
  if ((params.flags & 1u) == 0u) {
    // Greedy with a repetition penalty: the argmax of the penalized scores.
    if (lid == 0u) {
      presence[input >> 5u] |= 1u << (input & 31u);
      tokens[0] = argmax;
    }
    return;
  }
  var z = 0.0;
  for (var b = lid; b < NB; b += WG) {
    z += bitcast<f32>(stats[b].z) * exp(bitcast<f32>(stats[b].x) - maxScore);
  }
  let zAll = sumAll(lid, z);

  // Top-k: gather the candidates (id order) when they fit, then the kth largest by radix select.
  var count = V;
  small = false;
  var topK = -FLT_MAX;
  var zK = zAll;
  if (params.topK > 0u) {
    let per = (NB + WG - 1u) / WG;
    var local = 0u;
    for (var q = 0u; q < per; q++) {
      let b = lid * per + q;
      if (b < NB) {
        offsets[b] = local;
        local += counts[b];
      }
    }
    let incl = scanU(lid, local);
    for (var q = 0u; q < per; q++) {
      let b = lid * per + q;
      if (b < NB) { offsets[b] += incl - local; }
    }
    let total = workgroupUniformLoad(&redU[WG - 1u]);
    workgroupBarrier();
    if (total <= CAP) {
      for (var j = lid; j < total; j += WG) {
        var lo = 0u;
        var hi = NB - 1u;
        while (lo < hi) {
          let mid = (lo + hi + 1u) / 2u;
          if (offsets[mid] <= j) { lo = mid; } else { hi = mid - 1u; }
        }
        let c = candidates[lo * ${block}u + j - offsets[lo]];
        itemBits[j] = c.x;
        itemIds[j] = c.y;
      }
      count = total;
      small = true;
    }
    workgroupBarrier();
    topK = fromKey(selectKth(lid, count, params.topK));
    var zk = 0.0;
    for (var j = lid; j < count; j += WG) {
      let x = itemScore(j);
      if (x >= topK) { zk += exp(x - maxScore); }
    }
    zK = sumAll(lid, zk);
  }

  // Top-p: the smallest key whose cumulative mass (keys ≤ it) exceeds (1 − p)·Z, then how many of the
  // items tied at that key go (lowest ids first), as the host's ascending (prob, id) order does.
  var cutKey = 0u;
  var cutId = 0u;
  if (params.topPTail >= 0.0) {
    let tail = params.topPTail * zK;
    let maxKey = okey(maxScore);
    var lo = 0u;
    var hi = maxKey;
    while (lo < hi) {
      let mid = lo + (hi - lo) / 2u;
      if (massUpTo(lid, count, mid, maxScore, topK) > tail) { hi = mid; } else { lo = mid + 1u; }
    }
    cutKey = lo;
    var below = 0.0;
    if (cutKey > 0u) { below = massUpTo(lid, count, cutKey - 1u, maxScore, topK); }
    let ties = tiesUpTo(lid, count, cutKey, V, topK);
    let q = exp(fromKey(cutKey) - maxScore);
    var drop = u32(clamp(floor((tail - below) / q), 0.0, f32(ties)));
    while (drop < ties && below + f32(drop + 1u) * q <= tail) { drop++; }
    while (drop > 0u && below + f32(drop) * q > tail) { drop--; }
    if (cutKey == maxKey && drop >= ties) { drop = ties - 1u; }
    if (drop >= ties) {
      cutId = NONE;
    } else if (drop > 0u) {
      // The id of the tied item of rank drop (0-based, id order): the smallest id with drop + 1 ties ≤ it.
      var a = 0u;
      var c = V - 1u;
      while (a < c) {
        let mid = a + (c - a) / 2u;
        if (tiesUpTo(lid, count, cutKey, mid, topK) >= drop + 1u) { c = mid; } else { a = mid + 1u; }
      }
      cutId = a;
    }
  }

  // The draw: invocation lid scans items [lid·per, (lid + 1)·per) in id order.
  let per = (count + WG - 1u) / WG;
  var local = 0.0;
  for (var q = 0u; q < per; q++) {
    let j = lid * per + q;
    if (j < count) {
      let x = itemScore(j);
      if (kept(x, itemId(j), maxScore, topK, cutKey, cutId)) { local += exp(x - maxScore); }
    }
  }
  let incl = scanF(lid, local);
  let zKept = workgroupUniformLoad(&redF[WG - 1u]);
  workgroupBarrier();
  if (lid == 0u) {
    atomicStore(&chosen[0], NONE);
    atomicStore(&chosen[1], NONE);
  }
  workgroupBarrier();
  let goal = step.u * zKept;
  var run = incl - local;
  var found = false;
  for (var q = 0u; q < per; q++) {
    let j = lid * per + q;
    if (j < count) {
      let x = itemScore(j);
      let id = itemId(j);
      if (kept(x, id, maxScore, topK, cutKey, cutId)) {
        if (x == maxScore) { atomicMin(&chosen[1], id); }
        run += exp(x - maxScore);
        if (!found && run > goal) {
          atomicMin(&chosen[0], id);
          found = true;
        }
      }
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var token = atomicLoad(&chosen[0]);
    if (token == NONE) { token = atomicLoad(&chosen[1]); }
    presence[input >> 5u] |= 1u << (input & 31u);
    tokens[0] = token;
  }
}`;
}
