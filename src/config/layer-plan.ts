/**
 * The per-layer plan derived from a config: head counts and FFN width of each physical block
 * (OpenELM layer-wise scaling), which blocks slide or skip RoPE, and the execution order of blocks
 * under layer sharing (each execution is a "virtual layer" with its own KV-cache slot).
 */
import type { ModelConfig, RopeConfig } from './model-config.js';

export interface LayerSpec {
  /** Physical block index (parameter path model.layers.{index}). */
  index: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  intermediateSize: number;
  /** Attention window (null: full causal). */
  window: number | null;
  /** RoPE of this layer (null: NoPE or no rotary positions). */
  rope: RopeConfig | null;
  /** DeepSeek: dense FFN below firstKDenseReplace, experts above. */
  moe: boolean;
}

/** OpenELM's make_divisible: nearest multiple of `divisor` (at least divisor), bumped up if that loses > 10%. */
export function makeDivisible(value: number, divisor: number, minValue = divisor): number {
  let result = Math.max(minValue, Math.floor((value + divisor / 2) / divisor) * divisor);
  if (result < 0.9 * value) result += divisor;
  return result;
}

/** numpy.linspace(start, stop, n). */
function linspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  const out = Array.from({ length: n }, (_, i) => start + i * step);
  out[n - 1] = stop;
  return out;
}

/** Python's round(x, 2): to the nearest hundredth of the exact binary value, exact ties to even. */
function round2(x: number): number {
  const scaled = x * 100;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && Number.isInteger(x * 200)) return (floor % 2 === 0 ? floor : floor + 1) / 100;
  return Number(x.toFixed(2));
}

/** Per-layer heads and FFN widths of OpenELM layer-wise scaling (configuration_openelm.py semantics). */
export function openElmLayerWidths(config: ModelConfig): {
  numAttentionHeads: number[];
  numKeyValueHeads: number[];
  intermediateSize: number[];
} {
  const s = config.layerScaling!;
  const n = config.numLayers;
  const d = config.hiddenSize;
  const qkv = linspace(s.qkvMultipliers[0], s.qkvMultipliers[1], n).map(round2);
  const ffn = linspace(s.ffnMultipliers[0], s.ffnMultipliers[1], n).map(round2);
  const numAttentionHeads = qkv.map(
    (m) => makeDivisible(d * m, config.headDim * s.numGqaGroups) / config.headDim,
  );
  return {
    numAttentionHeads,
    numKeyValueHeads: numAttentionHeads.map((h) => h / s.numGqaGroups),
    intermediateSize: ffn.map((m) => Math.trunc(makeDivisible(m * d, s.ffnDimDivisor))),
  };
}

export function layerSpecs(config: ModelConfig): LayerSpec[] {
  const widths = config.perLayer ?? (config.layerScaling ? openElmLayerWidths(config) : null);
  return Array.from({ length: config.numLayers }, (_, i) => {
    const sliding = config.layerTypes[i] === 'sliding';
    let rope: RopeConfig | null = null;
    if (config.positionEmbedding === 'rope' && !config.noRopeLayers.includes(i)) {
      rope = sliding && config.ropeSliding ? config.ropeSliding : config.rope;
    }
    return {
      index: i,
      numAttentionHeads: widths?.numAttentionHeads[i] ?? config.numAttentionHeads,
      numKeyValueHeads: widths?.numKeyValueHeads[i] ?? config.numKeyValueHeads,
      intermediateSize: widths?.intermediateSize[i] ?? config.intermediateSize,
      window: sliding ? config.slidingWindow : null,
      rope,
      moe: config.moe !== null && i >= config.moe.firstKDenseReplace,
    };
  });
}

/** Physical block executed at each virtual layer. */
export function executionOrder(config: ModelConfig): number[] {
  const n = config.numLayers;
  const sharing = config.layerSharing;
  if (!sharing || sharing.repeats === 1) return Array.from({ length: n }, (_, i) => i);
  const order: number[] = [];
  if (sharing.mode === 'immediate') {
    for (let i = 0; i < n; i++) for (let r = 0; r < sharing.repeats; r++) order.push(i);
  } else {
    for (let r = 0; r < sharing.repeats; r++) for (let i = 0; i < n; i++) order.push(i);
  }
  return order;
}

/** Number of query·key dims per head (MLA: nope + rope parts). */
export function qkHeadDim(config: ModelConfig): number {
  return config.mla ? config.mla.qkNopeHeadDim + config.mla.qkRopeHeadDim : config.headDim;
}

/** Dims of each head that rotate under RoPE. */
export function rotaryDim(config: ModelConfig, rope: RopeConfig): number {
  return config.mla ? config.mla.qkRopeHeadDim : Math.floor(config.headDim * rope.partialRotaryFactor);
}
