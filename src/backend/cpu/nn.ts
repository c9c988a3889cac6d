/**
 * CPU kernels for the fused neural-network ops: cross-entropy, embedding gather/scatter, RMSNorm,
 * LayerNorm, RoPE and the AdamW step. Forward kernels return what their backward needs (llm.c style).
 */
import { allocArray, type FloatArray } from '../../tensor/dtype.js';
import { fmix32 } from '../../tensor/random.js';
import { sizeOf } from '../../tensor/shape.js';
import type { Kernel } from '../backend.js';

export interface CrossEntropyAttrs {
  ignoreIndex: number;
}

/** Per-row -log softmax(logits)[target] ([N]) and the number of counted rows ([1]). */
export const crossEntropyKernel: Kernel<CrossEntropyAttrs> = (
  [logits, targets],
  { ignoreIndex },
  [rowSpec],
) => {
  const lv = logits!.storage as FloatArray;
  const tv = targets!.storage as Int32Array;
  const vocab = logits!.shape[logits!.shape.length - 1]!;
  const rows = tv.length;
  const loss = allocArray(rowSpec!.dtype, rows) as FloatArray;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const t = tv[r]!;
    if (t === ignoreIndex) continue;
    if (t < 0 || t >= vocab)
      throw new Error(`cross-entropy target ${t} at row ${r} is outside the vocabulary [0, ${vocab})`);
    const base = r * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) max = Math.max(max, lv[base + j]!);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(lv[base + j]! - max);
    loss[r] = Math.log(sum) + max - lv[base + t]!;
    count++;
  }
  const countOut = allocArray(rowSpec!.dtype, 1) as FloatArray;
  countOut[0] = count;
  return [loss, countOut];
};

/** dlogits = (softmax(logits) - onehot(target)) · dRow, zero on ignored rows. */
export const crossEntropyBackwardKernel: Kernel<CrossEntropyAttrs> = (
  [logits, targets, dRow],
  { ignoreIndex },
  [out],
) => {
  const lv = logits!.storage as FloatArray;
  const tv = targets!.storage as Int32Array;
  const dv = dRow!.storage as FloatArray;
  const vocab = logits!.shape[logits!.shape.length - 1]!;
  const grad = allocArray(out!.dtype, lv.length) as FloatArray;
  for (let r = 0; r < tv.length; r++) {
    const t = tv[r]!;
    if (t === ignoreIndex) continue;
    const base = r * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) max = Math.max(max, lv[base + j]!);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(lv[base + j]! - max);
    const scale = dv[r]! / sum;
    for (let j = 0; j < vocab; j++) grad[base + j] = Math.exp(lv[base + j]! - max) * scale;
    grad[base + t]! -= dv[r]!;
  }
  return [grad];
};

/** Rows of weight [V, D] picked by ids [...]: out [..., D]. */
export const gatherKernel: Kernel = ([weight, ids], _attrs, [out]) => {
  const wv = weight!.storage as FloatArray;
  const iv = ids!.storage as Int32Array;
  const [rows, dim] = weight!.shape as [number, number];
  const result = allocArray(out!.dtype, iv.length * dim) as FloatArray;
  for (let i = 0; i < iv.length; i++) {
    const id = iv[i]!;
    if (id < 0 || id >= rows)
      throw new Error(`token id ${id} at position ${i} is outside the vocabulary [0, ${rows})`);
    result.set(wv.subarray(id * dim, (id + 1) * dim), i * dim);
  }
  return [result];
};

/** Gradient of gather: dy rows added into a zero [rows, D] at ids. */
export const scatterAddKernel: Kernel<{ rows: number }> = ([ids, dy], { rows }, [out]) => {
  const iv = ids!.storage as Int32Array;
  const dv = dy!.storage as FloatArray;
  const dim = dy!.shape[dy!.shape.length - 1]!;
  const result = allocArray(out!.dtype, rows * dim) as FloatArray;
  for (let i = 0; i < iv.length; i++) {
    const base = iv[i]! * dim;
    for (let j = 0; j < dim; j++) result[base + j]! += dv[i * dim + j]!;
  }
  return [result];
};

export interface RmsNormAttrs {
  eps: number;
  /** 1 for Gemma's (1 + w) weights, else 0. */
  weightOffset: number;
  hasWeight: boolean;
}

/** y = x · rsqrt(mean(x²) + eps) · (w + offset); also returns rstd [rows]. */
export const rmsNormKernel: Kernel<RmsNormAttrs> = (inputs, { eps, weightOffset, hasWeight }, [out]) => {
  const xv = inputs[0]!.storage as FloatArray;
  const wv = hasWeight ? (inputs[1]!.storage as FloatArray) : null;
  const dim = inputs[0]!.shape[inputs[0]!.shape.length - 1]!;
  const rows = xv.length / dim;
  const y = allocArray(out!.dtype, xv.length) as FloatArray;
  const rstd = allocArray(out!.dtype, rows) as FloatArray;
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += xv[base + j]! * xv[base + j]!;
    const rs = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = rs;
    for (let j = 0; j < dim; j++) y[base + j] = xv[base + j]! * rs * (wv ? wv[j]! + weightOffset : 1);
  }
  return [y, rstd];
};

export const rmsNormBackwardKernel: Kernel<RmsNormAttrs> = (
  inputs,
  { weightOffset, hasWeight },
  [dxSpec],
) => {
  const xv = inputs[0]!.storage as FloatArray;
  const wv = hasWeight ? (inputs[1]!.storage as FloatArray) : null;
  const rstd = inputs[hasWeight ? 2 : 1]!.storage as FloatArray;
  const dy = inputs[hasWeight ? 3 : 2]!.storage as FloatArray;
  const dim = inputs[0]!.shape[inputs[0]!.shape.length - 1]!;
  const rows = xv.length / dim;
  const dx = allocArray(dxSpec!.dtype, xv.length) as FloatArray;
  const dw = hasWeight ? (allocArray(dxSpec!.dtype, dim) as FloatArray) : null;
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    const rs = rstd[r]!;
    // g = dy·(w+offset); dx = rs·(g − x̂·mean(g·x̂)) with x̂ = x·rs
    let dot = 0;
    for (let j = 0; j < dim; j++) {
      const g = dy[base + j]! * (wv ? wv[j]! + weightOffset : 1);
      dot += g * xv[base + j]! * rs;
      if (dw) dw[j]! += dy[base + j]! * xv[base + j]! * rs;
    }
    const meanDot = dot / dim;
    for (let j = 0; j < dim; j++) {
      const g = dy[base + j]! * (wv ? wv[j]! + weightOffset : 1);
      dx[base + j] = rs * (g - xv[base + j]! * rs * meanDot);
    }
  }
  return dw ? [dx, dw] : [dx];
};

export interface LayerNormAttrs {
  eps: number;
  hasWeight: boolean;
  hasBias: boolean;
}

/** y = (x − mean)·rsqrt(var + eps)·w + b (biased variance); also returns mean and rstd [rows]. */
export const layerNormKernel: Kernel<LayerNormAttrs> = (inputs, { eps, hasWeight, hasBias }, [out]) => {
  const xv = inputs[0]!.storage as FloatArray;
  const wv = hasWeight ? (inputs[1]!.storage as FloatArray) : null;
  const bv = hasBias ? (inputs[hasWeight ? 2 : 1]!.storage as FloatArray) : null;
  const dim = inputs[0]!.shape[inputs[0]!.shape.length - 1]!;
  const rows = xv.length / dim;
  const y = allocArray(out!.dtype, xv.length) as FloatArray;
  const means = allocArray(out!.dtype, rows) as FloatArray;
  const rstds = allocArray(out!.dtype, rows) as FloatArray;
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += xv[base + j]!;
    const mean = sum / dim;
    let sq = 0;
    for (let j = 0; j < dim; j++) sq += (xv[base + j]! - mean) ** 2;
    const rs = 1 / Math.sqrt(sq / dim + eps);
    means[r] = mean;
    rstds[r] = rs;
    for (let j = 0; j < dim; j++) {
      y[base + j] = (xv[base + j]! - mean) * rs * (wv ? wv[j]! : 1) + (bv ? bv[j]! : 0);
    }
  }
  return [y, means, rstds];
};

export const layerNormBackwardKernel: Kernel<LayerNormAttrs> = (inputs, { hasWeight, hasBias }, [dxSpec]) => {
  const xv = inputs[0]!.storage as FloatArray;
  const wv = hasWeight ? (inputs[1]!.storage as FloatArray) : null;
  const k = hasWeight ? 2 : 1;
  const means = inputs[k]!.storage as FloatArray;
  const rstds = inputs[k + 1]!.storage as FloatArray;
  const dy = inputs[k + 2]!.storage as FloatArray;
  const dim = inputs[0]!.shape[inputs[0]!.shape.length - 1]!;
  const rows = xv.length / dim;
  const dx = allocArray(dxSpec!.dtype, xv.length) as FloatArray;
  const dw = hasWeight ? (allocArray(dxSpec!.dtype, dim) as FloatArray) : null;
  const db = hasBias ? (allocArray(dxSpec!.dtype, dim) as FloatArray) : null;
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    const mean = means[r]!;
    const rs = rstds[r]!;
    // g = dy·w; dx = rs·(g − mean(g) − x̂·mean(g·x̂))
    let gSum = 0;
    let gxSum = 0;
    for (let j = 0; j < dim; j++) {
      const xhat = (xv[base + j]! - mean) * rs;
      const g = dy[base + j]! * (wv ? wv[j]! : 1);
      gSum += g;
      gxSum += g * xhat;
      if (dw) dw[j]! += dy[base + j]! * xhat;
      if (db) db[j]! += dy[base + j]!;
    }
    const gMean = gSum / dim;
    const gxMean = gxSum / dim;
    for (let j = 0; j < dim; j++) {
      const xhat = (xv[base + j]! - mean) * rs;
      const g = dy[base + j]! * (wv ? wv[j]! : 1);
      dx[base + j] = rs * (g - gMean - xhat * gxMean);
    }
  }
  const outs: FloatArray[] = [dx];
  if (dw) outs.push(dw);
  if (db) outs.push(db);
  return outs;
};

export interface RopeAttrs {
  /** Number of leading dims of each head that rotate (partial rotary); the rest pass through. */
  rotaryDim: number;
  /** Pairs (2i, 2i+1) instead of rotate-half pairs (i, i + R/2). */
  interleaved: boolean;
  /** Rotate by −θ (the gradient of the rotation). */
  inverse: boolean;
  /**
   * 0: out as in, [..., T, H, D]; 1: in [..., T, H, D], out heads-first [..., H, T, D]; 2: in
   * heads-first, out [..., T, H, D] (the gradient of 1).
   */
  layout?: 0 | 1 | 2;
}

/** Positions and heads of a rope input of `layout` (RopeAttrs). */
export function ropeAxes(shape: readonly number[], layout: 0 | 1 | 2): { seq: number; heads: number } {
  const rank = shape.length;
  return layout === 2
    ? { seq: shape[rank - 2]!, heads: shape[rank - 3]! }
    : { seq: shape[rank - 3]!, heads: shape[rank - 2]! };
}

export const ropeKernel: Kernel<RopeAttrs> = (
  [x, cos, sin],
  { rotaryDim, interleaved, inverse, layout = 0 },
  [out],
) => {
  const xv = x!.storage as FloatArray;
  const cv = cos!.storage as FloatArray;
  const sv = sin!.storage as FloatArray;
  const headDim = x!.shape[x!.shape.length - 1]!;
  const { seq, heads } = ropeAxes(x!.shape, layout);
  const half = rotaryDim / 2;
  const sign = inverse ? -1 : 1;
  const y = allocArray(out!.dtype, xv.length) as FloatArray;
  const vectors = sizeOf(x!.shape.slice(0, -1));
  for (let v = 0; v < vectors; v++) {
    const inner = v % (seq * heads);
    const first = v - inner; // batch offset, in vectors
    const t = layout === 2 ? inner % seq : Math.floor(inner / heads);
    const h = layout === 2 ? Math.floor(inner / seq) : inner % heads;
    const inBase = v * headDim;
    const outBase = (first + (layout === 1 ? h * seq + t : t * heads + h)) * headDim;
    for (let d = rotaryDim; d < headDim; d++) y[outBase + d] = xv[inBase + d]!;
    for (let i = 0; i < half; i++) {
      const c = cv[t * half + i]!;
      const s = sign * sv[t * half + i]!;
      const j0 = interleaved ? 2 * i : i;
      const j1 = interleaved ? 2 * i + 1 : i + half;
      const a = xv[inBase + j0]!;
      const b = xv[inBase + j1]!;
      y[outBase + j0] = a * c - b * s;
      y[outBase + j1] = b * c + a * s;
    }
  }
  return [y];
};

export interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay: one value for every tensor, or one per tensor. */
  weightDecay: number | readonly number[];
  /** 1-based step count, for bias correction. */
  step: number;
  /** The gradients are multiplied by this first (micro-batch average, clipping). Default 1. */
  gradScale?: number;
}

/** The weight decay of tensor `t` of an adamw call. */
export function decayOf(attrs: AdamWAttrs, t: number): number {
  return typeof attrs.weightDecay === 'number' ? attrs.weightDecay : attrs.weightDecay[t]!;
}

/**
 * One AdamW step, in place on param, m and v (decoupled weight decay, Loshchilov & Hutter), for one or
 * more tensors: inputs are (param, grad, m, v) for each, one after another.
 */
export const adamwKernel: Kernel<AdamWAttrs> = (inputs, attrs) => {
  const { lr, beta1, beta2, eps, step, gradScale = 1 } = attrs;
  const c1 = 1 - beta1 ** step;
  const c2 = 1 - beta2 ** step;
  for (let t = 0; 4 * t < inputs.length; t++) {
    const [param, grad, m, v] = inputs.slice(4 * t, 4 * t + 4);
    const weightDecay = decayOf(attrs, t);
    const p = param!.storage as FloatArray;
    const g = grad!.storage as FloatArray;
    const mv = m!.storage as FloatArray;
    const vv = v!.storage as FloatArray;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! * gradScale;
      mv[i] = beta1 * mv[i]! + (1 - beta1) * gi;
      vv[i] = beta2 * vv[i]! + (1 - beta2) * gi * gi;
      const mhat = mv[i]! / c1;
      const vhat = vv[i]! / c2;
      p[i] = p[i]! - lr * (mhat / (Math.sqrt(vhat) + eps) + weightDecay * p[i]!);
    }
  }
  return [];
};

export interface RouteTopKAttrs {
  /** Experts kept per token. */
  k: number;
  /** Add the correction bias (input 1) to the scores for selection only (DeepSeek-V3). */
  hasCorrection: boolean;
  /** Group-limited routing: experts in numGroups equal groups, only the topkGroup best groups eligible. */
  numGroups: number;
  topkGroup: number;
  /** Group score: its best expert ('max') or the sum of its best two ('top2_sum'). */
  groupScore: 'max' | 'top2_sum';
}

/**
 * Mixture-of-experts routing mask [N, E]: 1 at each token's top-k experts by score (+ correction),
 * after masking the groups outside the top groups to 0 (as transformers' DeepSeek code); ties go to
 * the lower index.
 */
export const routeTopKKernel: Kernel<RouteTopKAttrs> = (inputs, attrs, [out]) => {
  const scores = inputs[0]!.storage as FloatArray;
  const correction = attrs.hasCorrection ? (inputs[1]!.storage as FloatArray) : null;
  const experts = inputs[0]!.shape[inputs[0]!.shape.length - 1]!;
  const tokens = scores.length / experts;
  const mask = allocArray(out!.dtype, scores.length) as FloatArray;
  const choice = new Float64Array(experts);
  const size = experts / attrs.numGroups;
  for (let n = 0; n < tokens; n++) {
    for (let j = 0; j < experts; j++)
      choice[j] = scores[n * experts + j]! + (correction ? correction[j]! : 0);
    if (attrs.numGroups > 1) {
      const groupScores = Array.from({ length: attrs.numGroups }, (_, g) => {
        const members = Array.from(choice.subarray(g * size, (g + 1) * size)).sort((a, b) => b - a);
        return attrs.groupScore === 'max' ? members[0]! : members[0]! + (members[1] ?? 0);
      });
      const kept = new Set(
        Array.from({ length: attrs.numGroups }, (_, g) => g)
          .sort((a, b) => groupScores[b]! - groupScores[a]! || a - b)
          .slice(0, attrs.topkGroup),
      );
      for (let g = 0; g < attrs.numGroups; g++) if (!kept.has(g)) choice.fill(0, g * size, (g + 1) * size);
    }
    const order = Array.from({ length: experts }, (_, j) => j).sort(
      (a, b) => choice[b]! - choice[a]! || a - b,
    );
    for (const j of order.slice(0, attrs.k)) mask[n * experts + j] = 1;
  }
  return [mask];
};

export interface DropoutMaskAttrs {
  /** Probability of dropping an element. */
  p: number;
  /** 32-bit seed; the same seed gives the same mask on every backend. */
  seed: number;
}

/**
 * Inverted-dropout mask shaped like the input: element i is kept (value 1/(1−p)) when
 * u_i = fmix32(i + fmix32(seed)) / 2³² (top 24 bits) is at least p, else 0. A counter-based hash,
 * so the WebGPU kernel computes the identical mask.
 */
export const dropoutMaskKernel: Kernel<DropoutMaskAttrs> = ([x], { p, seed }, [out]) => {
  const n = sizeOf(x!.shape);
  const mask = allocArray(out!.dtype, n) as FloatArray;
  const base = fmix32(seed >>> 0);
  const keep = 1 / (1 - p);
  for (let i = 0; i < n; i++) {
    const u = (fmix32((i + base) >>> 0) >>> 8) / 16777216;
    mask[i] = u >= p ? keep : 0;
  }
  return [mask];
};
