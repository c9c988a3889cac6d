/**
 * Fused attention on the cpu (the oracle for the WGSL kernels in ../webgpu/kernels/flash-attention*.ts):
 * the same semantics as the composite path in src/ops/attention.ts, one query row at a time, scores never
 * stored beyond one row. Query head h reads KV head ⌊h / (H/G)⌋; query i sits at key position i + S − T
 * and sees key j when (not causal or j ≤ pos) and (window < 0 or j > pos − window). The soft-cap
 * c·tanh(s/c) applies to the scaled score before the mask.
 */
import { allocArray, type FloatArray } from '../../tensor/dtype.js';
import type { Kernel } from '../backend.js';

export interface FlashAttentionAttrs {
  /** Multiplies q·k. */
  scale: number;
  causal: boolean;
  /** Sliding window in keys, or -1 for none. */
  window: number;
  /** Soft-cap c of c·tanh(s/c), or 0 for none. */
  softcap: number;
}

/** Shapes of q [B, H, T, D], k [B, G, S, D], v [B, G, S, Dv] as plain numbers. */
export interface AttentionDims {
  batch: number;
  heads: number;
  groups: number;
  queries: number;
  keys: number;
  dk: number;
  dv: number;
}

export function attentionDims(
  q: { shape: readonly number[] },
  k: { shape: readonly number[] },
  v: { shape: readonly number[] },
): AttentionDims {
  const [batch, heads, queries, dk] = q.shape as [number, number, number, number];
  const [, groups, keys] = k.shape as [number, number, number, number];
  return { batch, heads, groups, queries, keys, dk, dv: v.shape[3]! };
}

/** Whether query position `pos` sees key j. */
function visible(j: number, pos: number, { causal, window }: FlashAttentionAttrs): boolean {
  return (!causal || j <= pos) && (window < 0 || j > pos - window);
}

/** Scaled (and soft-capped) score of one query row against key j; also d(score)/d(scaled q·k). */
function score(
  qv: FloatArray,
  qBase: number,
  kv: FloatArray,
  kBase: number,
  dk: number,
  { scale, softcap }: FlashAttentionAttrs,
): [number, number] {
  let dot = 0;
  for (let d = 0; d < dk; d++) dot += qv[qBase + d]! * kv[kBase + d]!;
  const s = dot * scale;
  if (!softcap) return [s, 1];
  const t = Math.tanh(s / softcap);
  return [softcap * t, 1 - t * t];
}

/** o [B, H, T, Dv] = softmax(mask(softcap(scale·q·kᵀ)))·v, and the row logsumexp [B, H, T]. */
export const flashAttentionKernel: Kernel<FlashAttentionAttrs> = ([q, k, v], attrs, [oSpec]) => {
  const { batch, heads, groups, queries, keys, dk, dv } = attentionDims(q!, k!, v!);
  const qv = q!.storage as FloatArray;
  const kv = k!.storage as FloatArray;
  const vv = v!.storage as FloatArray;
  const o = allocArray(oSpec!.dtype, batch * heads * queries * dv) as FloatArray;
  const lse = allocArray(oSpec!.dtype, batch * heads * queries) as FloatArray;
  const rep = heads / groups;
  const scores = new Float64Array(keys);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvHead = b * groups + Math.floor(h / rep); // [B, G] index
      for (let i = 0; i < queries; i++) {
        const row = (b * heads + h) * queries + i;
        const pos = i + keys - queries;
        let max = -Infinity;
        for (let j = 0; j < keys; j++) {
          if (!visible(j, pos, attrs)) continue;
          scores[j] = score(qv, row * dk, kv, (kvHead * keys + j) * dk, dk, attrs)[0];
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j < keys; j++) {
          if (!visible(j, pos, attrs)) continue;
          const p = Math.exp(scores[j]! - max);
          sum += p;
          const vBase = (kvHead * keys + j) * dv;
          for (let d = 0; d < dv; d++) o[row * dv + d]! += p * vv[vBase + d]!;
        }
        for (let d = 0; d < dv; d++) o[row * dv + d]! /= sum;
        lse[row] = max + Math.log(sum);
      }
    }
  }
  return [o, lse];
};

/**
 * FlashAttention-2 backward from the saved logsumexp: P = exp(score − lse), dV = Pᵀ·dO,
 * dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)) ⊙ softcap', dQ = scale·dS·K, dK = scale·dSᵀ·Q.
 * dK and dV sum over the query heads sharing a KV head. Inputs q, k, v, o, lse, dO -> dq, dk, dv.
 */
export const flashAttentionBackwardKernel: Kernel<FlashAttentionAttrs> = (
  [q, k, v, o, lse, dO],
  attrs,
  [dqSpec],
) => {
  const { batch, heads, groups, queries, keys, dk, dv } = attentionDims(q!, k!, v!);
  const qv = q!.storage as FloatArray;
  const kv = k!.storage as FloatArray;
  const vv = v!.storage as FloatArray;
  const ov = o!.storage as FloatArray;
  const lv = lse!.storage as FloatArray;
  const gv = dO!.storage as FloatArray;
  const dtype = dqSpec!.dtype;
  const dq = allocArray(dtype, qv.length) as FloatArray;
  const dkOut = allocArray(dtype, kv.length) as FloatArray;
  const dvOut = allocArray(dtype, vv.length) as FloatArray;
  const rep = heads / groups;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvHead = b * groups + Math.floor(h / rep);
      for (let i = 0; i < queries; i++) {
        const row = (b * heads + h) * queries + i;
        const pos = i + keys - queries;
        let delta = 0; // rowsum(dO ⊙ O) = Σ_j P_ij dP_ij
        for (let d = 0; d < dv; d++) delta += gv[row * dv + d]! * ov[row * dv + d]!;
        for (let j = 0; j < keys; j++) {
          if (!visible(j, pos, attrs)) continue;
          const kBase = (kvHead * keys + j) * dk;
          const vBase = (kvHead * keys + j) * dv;
          const [s, capGrad] = score(qv, row * dk, kv, kBase, dk, attrs);
          const p = Math.exp(s - lv[row]!);
          let dp = 0;
          for (let d = 0; d < dv; d++) {
            dp += gv[row * dv + d]! * vv[vBase + d]!;
            dvOut[vBase + d]! += p * gv[row * dv + d]!;
          }
          const ds = p * (dp - delta) * capGrad * attrs.scale;
          for (let d = 0; d < dk; d++) {
            dq[row * dk + d]! += ds * kv[kBase + d]!;
            dkOut[kBase + d]! += ds * qv[row * dk + d]!;
          }
        }
      }
    }
  }
  return [dq, dkOut, dvOut];
};
