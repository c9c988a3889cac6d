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
import { tanhSafeWGSL, wgslFloat } from './matvec-fused.js';

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
  /**
   * Qwen3-style q/k norm: RMSNorm over each head's dims with one weight [hd] for q (binding 6) and one
   * for k (binding 7), before RoPE; eps here. null: none.
   */
  qkNormEps?: number | null;
  /** Sliding window: position pos sees positions > pos − window (null: full causal). */
  window?: number | null;
  /** The q/k norm scales by (1 + w) (Gemma3). */
  qkNormPlusOne?: boolean;
  /**
   * 'head' (default): over each head's dims, one weight [hd]; 'projection' (OLMo2): over the whole q
   * projection [H·hd] and k projection [G·hd], weights of those lengths.
   */
  qkNormScope?: 'head' | 'projection';
  /** LayerNorm q/k norm (Phi, StableLM: the mean removed too) instead of RMSNorm; 'head' scope only. */
  qkNormLayerNorm?: boolean;
  /** One weight vector per head ([H, hd] for q, [G, hd] for k; StableLM) instead of one shared. */
  qkNormPerHead?: boolean;
  /** The q/k norm buffers hold a bias after the weights (same length). */
  qkNormBias?: boolean;
  /** Attention logit soft-cap: scores → cap·tanh(score / cap) before the mask (Gemma2). */
  softcap?: number | null;
}

/** Positions one split handles at most. */
export function maxChunk(spec: Pick<DecodeAttentionSpec, 'capacity' | 'splits'>): number {
  return Math.ceil(spec.capacity / spec.splits);
}

/** Workgroup memory of the split kernel in bytes (the plan checks it against the device limit). */
export function attentionWorkgroupBytes(capacity: number, splits: number, headDim: number): number {
  const scores = Math.ceil(maxChunk({ capacity, splits }) / positionsPerPass) * positionsPerPass;
  return 4 * (scores + 2 * headDim + threads);
}

/** Positions whose scores are computed in one pass of the split kernel (4 lanes per position). */
const positionsPerPass = 16;

/**
 * Default splits for a plan of `capacity` positions and `heads` query heads: ~384 (split, head)
 * workgroups of 64 invocations while contexts are short, at least one split per 256 positions for long
 * ones, chunks a multiple of 16 positions, and at most one split per 16 positions. The combine (fused
 * into the o-projection) reads every split, so more splits cost there: on the H200 with a 192-position
 * plan, Llama-3.2-1B's 32 heads went from 4 to 12 splits (attention 7.7 → 4.2 µs a layer, o-projection
 * 7.8 → 9.4 µs); Qwen2.5-0.5B (14 heads, 6 → 12 splits) and SmolLM2 (12) stayed within noise.
 */
export function defaultSplits(capacity: number, heads: number): number {
  const wanted = Math.max(Math.ceil(384 / heads), Math.ceil(capacity / 256), 1);
  const chunk = positionsPerPass * Math.ceil(capacity / (positionsPerPass * wanted));
  return Math.ceil(capacity / chunk);
}

/**
 * The end of a score pass of the split kernels (this one and attention-mla.ts): the lanes' partial
 * dots `s` meet in workgroup memory; the first 16 invocations each finish one position's score (the
 * new position's from `selfDot` over workgroup memory), apply `transform` (a soft-cap) and store it in
 * sc, masked to −3e38 outside the split (and `extraVisible`, e.g. the window).
 */
export function scorePassEnd(selfDot: string, transform: string, extraVisible: string): string {
  const lanes = threads / positionsPerPass;
  return `red[lid] = s;
    workgroupBarrier();
    if (lid < ${positionsPerPass}u) {
      let i2 = ps * ${positionsPerPass}u + lid;
      var t = 0.0;
      if (start + i2 == pos) {
        ${selfDot}
      } else {
        for (var l = 0u; l < ${lanes}u; l++) { t += red[lid * ${lanes}u + l]; }
      }
      ${transform}
      sc[i2] = select(-3.0e38, t, i2 < n${extraVisible});
    }
    workgroupBarrier();`;
}

/**
 * WGSL: `out` = the sum over a workgroup of `invocations` (a power of two) of each one's `v`, as a
 * tree in the workgroup array `red` (one slot per invocation); uniform control flow only.
 */
export function workgroupSum(v: string, out: string, invocations: number): string {
  return `red[lid] = ${v};
  workgroupBarrier();
  for (var s = ${invocations / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let ${out} = red[0];
  workgroupBarrier();`;
}

export const stepUniformWGSL = /* wgsl */ `struct Step { pos: u32, len: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> step: Step;`;

const threads = 64;

/**
 * One workgroup of 64 invocations per (split, query head). Scores: 16 positions per pass, 4 lanes per
 * position, each lane a quarter of the head dimension (vec4 loads of the cached keys, coalesced across
 * the lanes); the quarter sums meet in workgroup memory. Softmax: every invocation reads the chunk's
 * scores (≤ chunk values, broadcast reads) and keeps max and sum itself, so no reduction barrier. P·V:
 * invocation d accumulates dims d, d + 64, … over the chunk's positions in an unrolled loop of
 * independent coalesced loads. A head dimension that is not a multiple of 4 reads keys as scalars.
 */
export function attentionSplitShader(spec: DecodeAttentionSpec): string {
  const { heads, kvHeads, headDim: hd, rotaryDim, interleaved, capacity, splits, scale } = spec;
  const vec = hd % 4 === 0;
  const half = rotaryDim / 2;
  const rep = heads / kvHeads;
  const chunk = maxChunk(spec);
  const passes = Math.ceil(chunk / positionsPerPass);
  const lanes = threads / positionsPerPass; // lanes per position in the score pass
  const quarter = hd / 4 / lanes; // vec4s per lane
  const dimsPerThread = Math.ceil(hd / threads);
  // One split: the workgroup sees every position and writes the normalised output [H·hd] itself.
  const single = splits === 1;
  const kOff = heads * hd;
  const vOff = kOff + kvHeads * hd;
  // Fixed-size arrays where the extent is known (robustness clamps against constants).
  const cacheFloats = kvHeads * capacity * hd;
  const partner = interleaved
    ? `let i = d / 2u; let other = d ^ 1u; let sign = select(1.0, -1.0, (d & 1u) == 0u);`
    : `let i = d % ${half}u; let other = select(d - ${half}u, d + ${half}u, d < ${half}u); let sign = select(1.0, -1.0, d < ${half}u);`;
  const laneDot = !vec
    ? `for (var c = lane; c < ${hd}u; c += ${lanes}u) { s += qs[c] * K[kb + c]; }` // short: hd / 4 steps
    : Number.isInteger(quarter)
      ? `for (var j = 0u; j < ${quarter}u; j++) {
        let c = (lane + j * ${lanes}u) * 4u;
        s += dot(vec4<f32>(qs[c], qs[c + 1u], qs[c + 2u], qs[c + 3u]), K4[(kb + c) / 4u]);
      }`
      : `for (var c = lane * 4u; c < ${hd}u; c += ${lanes * 4}u) {
        s += dot(vec4<f32>(qs[c], qs[c + 1u], qs[c + 2u], qs[c + 3u]), K4[(kb + c) / 4u]);
      }`;
  const accs = Array.from({ length: dimsPerThread }, (_, j) => j);
  // The first pass's keys and values do not depend on q: they are loaded at the kernel's start, in
  // the same memory round trip as q, k and the RoPE table (with one pass per split, the common case
  // for short contexts, every load of the kernel is then in flight at once).
  const prefetchK = vec && Number.isInteger(quarter);
  const kPre = prefetchK
    ? `let kb0 = kvBase + min(start + lid / ${lanes}u, ${capacity - 1}u) * ${hd}u;
  ${Array.from({ length: quarter }, (_, j) => `let kp${j} = K4[(kb0 + (lane + ${j * lanes}u) * 4u) / 4u];`).join('\n  ')}`
    : '';
  const vPre = Array.from({ length: positionsPerPass }, (_, t) =>
    accs
      .map((j) => `let vp${t}_${j} = V[kvBase + min(start + ${t}u, ${capacity - 1}u) * ${hd}u + d${j}];`)
      .join(' '),
  ).join('\n  ');
  const dims = accs
    .map(
      (j) =>
        `let d${j} = ${(j + 1) * threads <= hd ? `lid + ${j * threads}u` : `min(lid + ${j * threads}u, ${hd - 1}u)`};`,
    )
    .join('\n  ');
  const norm = spec.qkNormEps ?? null;
  const window = spec.window ?? null;
  const projection = spec.qkNormScope === 'projection';
  const perHead = projection || spec.qkNormPerHead;
  const qIndex = (i: string) => (perHead ? `h * ${hd}u + ${i}` : i);
  const kIndex = (i: string) => (perHead ? `g * ${hd}u + ${i}` : i);
  // Lengths of the weight vectors (a bias follows each in the same buffer).
  const qLen = perHead ? heads * hd : hd;
  const kLen = perHead ? kvHeads * hd : hd;
  const lnq = spec.qkNormLayerNorm ?? false;
  const qval = (i: string) =>
    `(qs[${i}]${lnq ? ' - mq' : ''}) * iq * ${qw(i)}${spec.qkNormBias ? ` + qn[${qLen}u + ${qIndex(i)}]` : ''}`;
  const kval = (i: string) =>
    `(kc[${i}]${lnq ? ' - mk' : ''}) * ik * ${kw(i)}${spec.qkNormBias ? ` + kn[${kLen}u + ${kIndex(i)}]` : ''}`;
  const qw = (i: string) => (spec.qkNormPlusOne ? `(qn[${qIndex(i)}] + 1.0)` : `qn[${qIndex(i)}]`);
  const kw = (i: string) => (spec.qkNormPlusOne ? `(kn[${kIndex(i)}] + 1.0)` : `kn[${kIndex(i)}]`);
  // Σx² of the normalised span: the head in workgroup memory, or the whole projection (every
  // invocation a strided share of the global q and k, then a tree over the workgroup).
  const treeSum = (v: string, out: string) => workgroupSum(v, out, threads);
  const sums = projection
    ? `var pq = 0.0;
  var pk = 0.0;
  for (var e = lid; e < ${heads * hd}u; e += ${threads}u) { let v = qkv[e]; pq += v * v; }
  for (var e = lid; e < ${kvHeads * hd}u; e += ${threads}u) { let v = qkv[${kOff}u + e]; pk += v * v; }
  ${treeSum('pq', 'sq')}
  ${treeSum('pk', 'sk')}
  let iq = 1.0 / sqrt(sq / ${wgslFloat(heads * hd)} + ${wgslFloat(spec.qkNormEps ?? 0)});
  let ik = 1.0 / sqrt(sk / ${wgslFloat(kvHeads * hd)} + ${wgslFloat(spec.qkNormEps ?? 0)});`
    : `${
        lnq
          ? `var tq = 0.0;
  var tk = 0.0;
  for (var d = 0u; d < ${hd}u; d++) { tq += qs[d]; tk += kc[d]; }
  let mq = tq / ${wgslFloat(hd)};
  let mk = tk / ${wgslFloat(hd)};
  var sq = 0.0;
  var sk = 0.0;
  for (var d = 0u; d < ${hd}u; d++) { sq += (qs[d] - mq) * (qs[d] - mq); sk += (kc[d] - mk) * (kc[d] - mk); }`
          : `var sq = 0.0;
  var sk = 0.0;
  for (var d = 0u; d < ${hd}u; d++) { sq += qs[d] * qs[d]; sk += kc[d] * kc[d]; }`
      }
  let iq = 1.0 / sqrt(sq / ${wgslFloat(hd)} + ${wgslFloat(spec.qkNormEps ?? 0)});
  let ik = 1.0 / sqrt(sk / ${wgslFloat(hd)} + ${wgslFloat(spec.qkNormEps ?? 0)});`;
  const cap = spec.softcap ?? null;
  // q and k of this head, rotated (and q scaled) into workgroup memory. With a q/k norm, the raw head
  // vectors go to workgroup memory first: every invocation needs the sums of squares and the rotation
  // partners of its dims normalised.
  const prologue =
    norm === null
      ? `for (var d = lid; d < ${hd}u; d += ${threads}u) {
    qs[d] = rotated(h * ${hd}u, d, row) * ${wgslFloat(scale)};
    kc[d] = rotated(${kOff}u + g * ${hd}u, d, row);
  }
  workgroupBarrier();`
      : `for (var d = lid; d < ${hd}u; d += ${threads}u) {
    qs[d] = qkv[h * ${hd}u + d];
    kc[d] = qkv[${kOff}u + g * ${hd}u + d];
  }
  workgroupBarrier();
  ${sums}
${accs
  .map(
    (j) => `  var rq${j} = 0.0;
  var rk${j} = 0.0;
  {
    let d = min(lid + ${j * threads}u, ${hd - 1}u);
    rq${j} = ${qval('d')};
    rk${j} = ${kval('d')};
    if (${rotaryDim > 0 ? `d < ${rotaryDim}u` : 'false'}) {
      ${rotaryDim > 0 ? partner : 'let i = 0u; let other = 0u; let sign = 0.0;'}
      let c = tab[row + i];
      let sn = tab[row + ${half}u + i];
      rq${j} = rq${j} * c + sign * (${qval('other')}) * sn;
      rk${j} = rk${j} * c + sign * (${kval('other')}) * sn;
    }
  }`,
  )
  .join('\n')}
  workgroupBarrier();
${accs
  .map(
    (j) => `  if (lid + ${j * threads}u < ${hd}u) {
    qs[lid + ${j * threads}u] = rq${j} * ${wgslFloat(scale)};
    kc[lid + ${j * threads}u] = rk${j};
  }`,
  )
  .join('\n')}
  workgroupBarrier();`;
  const passEnd = scorePassEnd(
    `for (var d = 0u; d < ${hd}u; d++) { t += qs[d] * kc[d]; }`,
    cap === null ? '' : `t = ${wgslFloat(cap)} * tanhSafe(t / ${wgslFloat(cap)});`,
    window === null ? '' : ' && start + i2 >= lo',
  );
  const q4 = (c: string) => `vec4<f32>(qs[${c}], qs[${c} + 1u], qs[${c} + 2u], qs[${c} + 3u])`;
  const firstPass = prefetchK
    ? `{
    let ps = 0u;
    var s = 0.0;
    ${Array.from({ length: quarter }, (_, j) => `s += dot(${q4(`(lane + ${j * lanes}u) * 4u`)}, kp${j});`).join('\n    ')}
    ${passEnd}
  }`
    : '';
  return `${stepUniformWGSL}
@group(0) @binding(1) var<storage, read> qkv: array<f32, ${(heads + 2 * kvHeads) * hd}>;
@group(0) @binding(2) var<storage, read> tab: array<f32>;
${vec ? `@group(0) @binding(3) var<storage, read_write> K4: array<vec4<f32>, ${cacheFloats / 4}>;` : `@group(0) @binding(3) var<storage, read_write> K: array<f32, ${cacheFloats}>;`}
@group(0) @binding(4) var<storage, read_write> V: array<f32, ${cacheFloats}>;
@group(0) @binding(5) var<storage, read_write> part: array<f32, ${single ? heads * hd : heads * splits * (hd + 2)}>;
${norm === null ? '' : '@group(0) @binding(6) var<storage, read> qn: array<f32>;\n@group(0) @binding(7) var<storage, read> kn: array<f32>;'}
var<workgroup> qs: array<f32, ${hd}>;
var<workgroup> kc: array<f32, ${hd}>;
var<workgroup> sc: array<f32, ${passes * positionsPerPass}>;
var<workgroup> red: array<f32, ${threads}>;

${cap === null ? '' : tanhSafeWGSL}
// x[base + d] rotated at the table row \`row\` (cpu rope kernel: y0 = a·c − b·s, y1 = b·c + a·s).
fn rotated(base: u32, d: u32, row: u32) -> f32 {
  let x = qkv[base + d];
  ${
    rotaryDim === 0
      ? 'return x + 0.0 * tab[row]; // no RoPE (learned positions); the table stays bound'
      : `if (d >= ${rotaryDim}u) { return x; }
  ${partner}
  return x * tab[row + i] + sign * qkv[base + other] * tab[row + ${half}u + i];`
  }
}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let h = wid.y;
  let g = h / ${rep}u;
  let pos = step.pos;
  let len = pos + 1u;
  let start = split * ${chunk}u;
  if (start >= len) { return; } // an empty split (the combine reads only the filled ones)
  let n = min(len - start, ${chunk}u);
  ${
    window === null
      ? ''
      : `let lo = select(0u, len - ${window}u, len > ${window}u); // the window's first position
  if (start + n <= lo) {
    // Wholly before the window: a split the combine weighs 0 (m = −3e38, l = 0, no output).
    let ob0 = (h * ${splits}u + split) * ${hd + 2}u;
    for (var d = lid; d < ${hd + 2}u; d += ${threads}u) { part[ob0 + d] = select(0.0, -3.0e38, d == 0u); }
    return;
  }`
  }
  let row = pos * ${rotaryDim}u;
  let kvBase = g * ${capacity * hd}u;
  let lane = lid % ${lanes}u;
  ${dims}
  ${kPre}
  ${vPre}
  ${prologue}
  if (pos >= start && pos < start + n && h % ${rep}u == 0u) {
    // The split holding the new position writes its key and value to the cache (read by later steps).
    for (var d = lid; d < ${hd}u; d += ${threads}u) {
      ${vec ? `K4[(kvBase + pos * ${hd}u + d) / 4u][d % 4u] = kc[d];` : `K[kvBase + pos * ${hd}u + d] = kc[d];`}
      V[kvBase + pos * ${hd}u + d] = qkv[${vOff}u + g * ${hd}u + d];
    }
  }
  ${firstPass}
  for (var ps = ${prefetchK ? 1 : 0}u; ps < ${passes}u; ps++) {
    let i = ps * ${positionsPerPass}u + lid / ${lanes}u;
    // Positions past the split (or the cache) are clamped and their scores masked below: the loads
    // need no branch. The new position's score is taken from q·k in workgroup memory.
    let kb = kvBase + min(start + i, ${capacity - 1}u) * ${hd}u;
    var s = 0.0;
    ${laneDot}
    ${passEnd}
  }
  // Max over the chunk's scores as a 4-way tree per step (shorter dependency chain).
  var mx = -3.0e38;
  for (var i = 0u; i < ${passes * positionsPerPass}u; i += 4u) {
    mx = max(mx, max(max(sc[i], sc[i + 1u]), max(sc[i + 2u], sc[i + 3u])));
  }
  var total = 0.0;
${accs
  .map(
    (j) => `  var a${j} = 0.0;
  let vn${j} = qkv[${vOff}u + g * ${hd}u + d${j}];`,
  )
  .join('\n')}
  // P·V 16 positions at a time, written out so that the 16 value loads are in flight together (a
  // rolled loop leaves it to the compiler, which unrolls short chunks but not long ones). Masked
  // positions have e = exp(-3e38 - mx) = 0; every load is clamped into the cache, so no branch.
${[0, 1]
  .map((pass) => {
    const body = Array.from({ length: positionsPerPass }, (_, t) => {
      const lines = [
        `    let e${t} = exp(sc[i0 + ${t}u] - mx);`,
        `    let p${t} = start + i0 + ${t}u;`,
        ...(pass === 0 ? [] : [`    let vb${t} = kvBase + min(p${t}, ${capacity - 1}u) * ${hd}u;`]),
        ...accs.map(
          (j) =>
            `    let v${t}_${j} = select(${pass === 0 ? `vp${t}_${j}` : `V[vb${t} + d${j}]`}, vn${j}, p${t} == pos);`,
        ),
      ];
      return lines.join('\n');
    }).join('\n');
    const sums = `    total += ${Array.from({ length: positionsPerPass }, (_, t) => `e${t}`).join(' + ')};
${accs.map((j) => `    a${j} += ${Array.from({ length: positionsPerPass }, (_, t) => `e${t} * v${t}_${j}`).join(' + ')};`).join('\n')}`;
    // Pass 0 from the values loaded at the start; the others load theirs.
    return pass === 0
      ? `  {
    let i0 = 0u;
${body}
${sums}
  }`
      : `  for (var ps = 1u; ps < ${passes}u; ps++) {
    let i0 = ps * ${positionsPerPass}u;
${body}
${sums}
  }`;
  })
  .join('\n')}
  let ob = (h * ${splits}u + split) * ${hd + 2}u;
${accs
  .map((j) => {
    const store = single ? `part[h * ${hd}u + d${j}] = a${j} / total;` : `part[ob + 2u + d${j}] = a${j};`;
    return (j + 1) * threads <= hd ? `  ${store}` : `  if (lid + ${j * threads}u < ${hd}u) { ${store} }`;
  })
  .join('\n')}
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

/**
 * Merges the filled splits of each head (those that start before the step's length):
 * out[h·hd + d] = Σ_s e^(m_s − M) acc_s[d] / Σ_s e^(m_s − M) l_s.
 */
export function attentionCombineShader(spec: DecodeAttentionSpec): string {
  const { headDim: hd, splits } = spec;
  const chunk = maxChunk(spec);
  return `${stepUniformWGSL}
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let base = h * ${splits * (hd + 2)}u;
  let filled = min((step.pos + ${chunk}u) / ${chunk}u, ${splits}u);
  var mx = -3.0e38;
  for (var s = 0u; s < filled; s++) { mx = max(mx, part[base + s * ${hd + 2}u]); }
  var l = 0.0;
  for (var s = 0u; s < filled; s++) {
    let o = base + s * ${hd + 2}u;
    l += exp(part[o] - mx) * part[o + 1u];
  }
  for (var d = lid; d < ${hd}u; d += ${threads}u) {
    var a = 0.0;
    for (var s = 0u; s < filled; s++) {
      let o = base + s * ${hd + 2}u;
      a += exp(part[o] - mx) * part[o + 2u + d];
    }
    out[h * ${hd}u + d] = a / l;
  }
}`;
}
