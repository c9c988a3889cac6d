/**
 * The attention combine as a prologue of the fused matvec (the o-projection): the splits' partials
 * [H, splits, hd + 2] (running max m, sum l, unnormalised output) are merged in workgroup memory
 * before the dot, out[h·hd + d] = Σ_s e^(m_s − M) acc_s[d] / Σ_s e^(m_s − M) l_s over the splits that
 * start before the step's length, so that the combine costs no dispatch of its own.
 */
import type { FusedMatvecSpec } from './matvec-fused.js';

type Combine = NonNullable<FusedMatvecSpec['combine']>;

/** Workgroup memory of a matvec with a combine prologue, in bytes. */
export function combineWorkgroupBytes(combine: Combine): number {
  return 4 * (3 * combine.heads * combine.splits + combine.heads * combine.headDim + 2 * 256 + 8);
}

/**
 * WGSL declarations (step uniform, merged input xs, merge weights) and the prologue code for a matvec
 * of input width `k` (vec: read as `elem` vectors, `kv` of them) over `combine`'s partials.
 */
export function combinePrologue(
  combine: Combine,
  k: number,
  vec: boolean,
  elem: string,
  kv: number,
): { decl: string; prologue: string } {
  const { heads: nh, headDim: hd, splits: ns, chunk } = combine;
  const pairs = nh * ns;
  const decl = `struct Step { pos: u32, len: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> step: Step;
var<workgroup> xs: array<${elem}, ${kv}>;
var<workgroup> wm: array<f32, ${pairs}>;
var<workgroup> wl: array<f32, ${pairs}>;
var<workgroup> ws: array<f32, ${pairs}>;`;
  const store = vec ? 'xs[e / 4u][e % 4u] = a;' : 'xs[e] = a;';
  // Each invocation's share of the split outputs (elements e = lid + 256·j, every split), loaded in
  // the same round trip as the splits' (m, l) when it fits in registers; else after the weights.
  const perThread = Math.ceil(k / 256);
  const early = perThread * ns <= 64;
  const element = (j: number) => `min(lid + ${j * 256}u, ${k - 1}u)`;
  const loads = early
    ? Array.from(
        { length: perThread },
        (_, j) =>
          `let pe${j} = ${element(j)};
let pb${j} = (pe${j} / ${hd}u) * ${ns * (hd + 2)}u + 2u + pe${j} % ${hd}u;
${Array.from({ length: ns }, (_, sp) => `let pv${j}_${sp} = part[pb${j} + ${sp * (hd + 2)}u];`).join(' ')}`,
      ).join('\n  ')
    : '';
  const merge = early
    ? Array.from({ length: perThread }, (_, j) => {
        const guard = (j + 1) * 256 > k ? `if (lid + ${j * 256}u < ${k}u) ` : '';
        const sum = Array.from({ length: ns }, (_, sp) => `ws[h * ${ns}u + ${sp}u] * pv${j}_${sp}`).join(
          ' + ',
        );
        return `${guard}{ let e = lid + ${j * 256}u; let h = e / ${hd}u; let a = ${sum}; ${store} }`;
      }).join('\n  ')
    : `for (var e = lid; e < ${k}u; e += 256u) {
  let h = e / ${hd}u;
  let base = h * ${ns * (hd + 2)}u + 2u + e % ${hd}u;
  var a = 0.0;
  // A constant trip count (no branch; every load in flight at once): unfilled splits weigh 0.
  for (var s = 0u; s < ${ns}u; s++) { a += ws[h * ${ns}u + s] * part[base + s * ${hd + 2}u]; }
  ${store}
}`;
  const prologue = `let filled = min((step.pos + ${chunk}u) / ${chunk}u, ${ns}u);
${loads}
for (var t = lid; t < ${pairs}u; t += 256u) {
  let o = t * ${hd + 2}u;
  let live = t % ${ns}u < filled;
  wm[t] = select(-3.0e38, part[o], live);
  wl[t] = select(0.0, part[o + 1u], live);
}
workgroupBarrier();
for (var t = lid; t < ${pairs}u; t += 256u) {
  let h0 = (t / ${ns}u) * ${ns}u;
  var big = -3.0e38;
  for (var j = 0u; j < ${ns}u; j++) { big = max(big, wm[h0 + j]); }
  var l = 0.0;
  for (var j = 0u; j < ${ns}u; j++) { l += exp(wm[h0 + j] - big) * wl[h0 + j]; }
  ws[t] = select(0.0, exp(wm[t] - big) / l, t % ${ns}u < filled);
}
workgroupBarrier();
${merge}
workgroupBarrier();`;
  return { decl, prologue };
}
