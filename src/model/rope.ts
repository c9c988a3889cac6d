/**
 * RoPE frequency tables with every scaling rule of Hugging Face's modeling_rope_utils (linear, dynamic
 * NTK, llama3, YaRN, LongRoPE), computed in float64 on the host. `ropeTables` returns cos/sin [T, R/2]
 * for positions start..start+T−1, already multiplied by the scaling's attention factor.
 */
import type { Backend } from '../backend/backend.js';
import type { RopeConfig } from '../config/model-config.js';
import { tensor } from '../ops/creation.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';

export interface RopeFrequencies {
  /** θ_i for i < R/2 (radians per position). */
  invFreq: Float64Array;
  /** Multiplies cos and sin (YaRN, LongRoPE); 1 otherwise. */
  attentionFactor: number;
}

function baseInvFreq(theta: number, dim: number): Float64Array {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / theta ** ((2 * i) / dim);
  return inv;
}

/** YaRN's attention-temperature helper: 0.1·m·ln(s) + 1 for s > 1. */
export function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/**
 * Inverse frequencies of `rope` for a head rotating `dim` dims, in a model with context
 * `maxPositions`, when the current sequence is `seqLen` long (dynamic NTK and LongRoPE depend on it).
 */
export function ropeFrequencies(
  rope: RopeConfig,
  dim: number,
  maxPositions: number,
  seqLen = 0,
): RopeFrequencies {
  const s = rope.scaling;
  if (!s) return { invFreq: baseInvFreq(rope.theta, dim), attentionFactor: 1 };
  switch (s.type) {
    case 'linear':
      return { invFreq: baseInvFreq(rope.theta, dim).map((f) => f / s.factor), attentionFactor: 1 };
    case 'dynamic': {
      let theta = rope.theta;
      if (seqLen > maxPositions) {
        theta = rope.theta * ((s.factor * seqLen) / maxPositions - (s.factor - 1)) ** (dim / (dim - 2));
      }
      return { invFreq: baseInvFreq(theta, dim), attentionFactor: 1 };
    }
    case 'llama3': {
      const original = s.originalMaxPositionEmbeddings!;
      const low = s.lowFreqFactor ?? 1;
      const high = s.highFreqFactor ?? 4;
      const lowWavelen = original / low;
      const highWavelen = original / high;
      const invFreq = baseInvFreq(rope.theta, dim).map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highWavelen) return f;
        if (wavelen > lowWavelen) return f / s.factor;
        const smooth = (original / wavelen - low) / (high - low);
        return (1 - smooth) * (f / s.factor) + smooth * f;
      });
      return { invFreq, attentionFactor: 1 };
    }
    case 'yarn': {
      const original = s.originalMaxPositionEmbeddings ?? maxPositions;
      const betaFast = s.betaFast ?? 32;
      const betaSlow = s.betaSlow ?? 1;
      const correctionDim = (rotations: number) =>
        (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(rope.theta));
      let low = correctionDim(betaFast);
      let high = correctionDim(betaSlow);
      if (s.truncate ?? true) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, dim - 1);
      if (low === high) high += 0.001;
      const invFreq = new Float64Array(dim / 2);
      for (let i = 0; i < dim / 2; i++) {
        const posFreq = rope.theta ** ((2 * i) / dim);
        const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
        const extrapolation = 1 - ramp;
        invFreq[i] = (1 / (s.factor * posFreq)) * (1 - extrapolation) + (1 / posFreq) * extrapolation;
      }
      let attentionFactor = s.attentionFactor;
      if (attentionFactor === undefined) {
        attentionFactor =
          s.mscale !== undefined && s.mscaleAllDim !== undefined
            ? yarnMscale(s.factor, s.mscale) / yarnMscale(s.factor, s.mscaleAllDim)
            : yarnMscale(s.factor);
      }
      return { invFreq, attentionFactor };
    }
    case 'longrope': {
      const original = s.originalMaxPositionEmbeddings ?? maxPositions;
      const ext = seqLen > original ? s.longFactor! : s.shortFactor!;
      const invFreq = new Float64Array(dim / 2);
      for (let i = 0; i < dim / 2; i++) invFreq[i] = 1 / (ext[i]! * rope.theta ** ((2 * i) / dim));
      const scale = maxPositions / original;
      const attentionFactor =
        s.attentionFactor ?? (scale <= 1 ? 1 : Math.sqrt(1 + Math.log(scale) / Math.log(original)));
      return { invFreq, attentionFactor };
    }
  }
}

/** cos/sin tables [T, R/2] for positions start … start+T−1. */
export function ropeTables(
  freqs: RopeFrequencies,
  start: number,
  length: number,
  dtype: DType,
  backend: Backend,
): { cos: Tensor; sin: Tensor } {
  const half = freqs.invFreq.length;
  const cos = dtype === 'float64' ? new Float64Array(length * half) : new Float32Array(length * half);
  const sin = dtype === 'float64' ? new Float64Array(length * half) : new Float32Array(length * half);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + t) * freqs.invFreq[i]!;
      cos[t * half + i] = Math.cos(angle) * freqs.attentionFactor;
      sin[t * half + i] = Math.sin(angle) * freqs.attentionFactor;
    }
  }
  return { cos: tensor(cos, [length, half], { backend }), sin: tensor(sin, [length, half], { backend }) };
}
