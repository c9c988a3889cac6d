/**
 * What a config costs, computed from the config alone (no weights are allocated): parameters by part
 * (counted from parameterSpecs, exactly what Transformer.init allocates), matmul FLOPs per token,
 * KV-cache bytes per token and weight bytes by dtype.
 *
 * Conventions (stated so the numbers can be checked by hand):
 * - FLOPs = 2 x multiply-adds of every matmul one token goes through: q/k/v/o (or MLA's
 *   projections), attention scores and the weighted sum of values against `contextLength` keys
 *   (capped at the window on sliding layers), the FFN (routed top-k experts + shared experts + router
 *   for MoE), PanGu-pi shortcuts and the LM head. Norms, activations, softmax, RoPE and the embedding
 *   lookup are not counted. Training = 3 x forward (backward = 2 x forward). Shared blocks count once
 *   per execution (virtual layer).
 * - KV cache: standard attention keeps K and V: 2 x numKeyValueHeads x headDim elements per virtual
 *   layer. MLA keeps the compressed latent and the shared RoPE key: kvLoraRank + qkRopeHeadDim per
 *   virtual layer (reference §2.2).
 */

import { type ParamPart, parameterSpecs } from '../model/params.js';
import { executionOrder, type LayerSpec, layerSpecs, qkHeadDim } from './layer-plan.js';
import type { ModelConfig } from './model-config.js';

export const dtypeBytes = { f32: 4, f16: 2, bf16: 2 } as const;
export type SizeDType = keyof typeof dtypeBytes;
export type BytesByDType = Record<SizeDType, number>;

export interface LayerParams {
  /** Physical block index. */
  layer: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** Dense FFN width (unused by a MoE layer). */
  intermediateSize: number;
  moe: boolean;
  attention: number;
  ffn: number;
  norm: number;
  total: number;
}

export interface ParamCounts {
  total: number;
  embedding: number;
  attention: number;
  ffn: number;
  norm: number;
  head: number;
  /** total − embedding (the usual "non-embedding parameters"). */
  nonEmbedding: number;
  /** MoE: the parameters one token uses (top-k routed experts instead of all). Equals total otherwise. */
  activePerToken: number;
  perLayer: LayerParams[];
}

export interface FlopsPerToken {
  /** Keys each token attends to (before sliding-window caps). */
  contextLength: number;
  forward: number;
  /** 3 x forward. */
  training: number;
  breakdown: {
    attentionProjections: number;
    attentionScores: number;
    ffn: number;
    lmHead: number;
  };
}

export interface KVCacheInfo {
  kind: 'standard' | 'mla';
  /** Executions of blocks (numLayers x repeats under layer sharing); each has its own cache slot. */
  virtualLayers: number;
  elementsPerToken: number;
  bytesPerToken: BytesByDType;
  /** Virtual layers whose cache stops growing at the window. */
  slidingLayers: number;
  slidingWindow: number | null;
  /** Whole cache at contextLength tokens, sliding layers capped at their window. */
  bytesAtContext: BytesByDType;
  /** MLA only: what caching decompressed per-head K and V would take (Hugging Face's cache). */
  decompressedBytesPerToken?: BytesByDType;
}

export interface ConfigAnalysis {
  architecture: {
    /** 'mixed' when layers differ (per-layer head counts). */
    attention: 'MHA' | 'GQA' | 'MQA' | 'MLA' | 'mixed';
    /** Head counts or FFN widths vary by layer (OpenELM layer-wise scaling). */
    perLayerWidths: boolean;
    numLayers: number;
    virtualLayers: number;
    hiddenSize: number;
    vocabSize: number;
    maxPositionEmbeddings: number;
    tiedEmbeddings: boolean;
    moe: boolean;
  };
  params: ParamCounts;
  flopsPerToken: FlopsPerToken;
  kvCacheBytesPerToken: BytesByDType;
  kvCache: KVCacheInfo;
  weightBytes: BytesByDType;
  /** Training with AdamW in one dtype: weights, gradients and the two moments (4 x weightBytes). */
  trainingStateBytes: BytesByDType;
  /**
   * Sizes of the largest single activations of a forward over contextLength tokens (batch 1, float32),
   * not a total: they bound what one pass needs beyond the weights and the cache.
   */
  activations: {
    /** Logits [T, vocab]. */
    logitsBytes: number;
    /** One layer's attention scores [H, T, keys] when attention is not fused (keys capped by a window). */
    attentionScoresBytes: number;
    /** One layer's FFN hidden [T, width] (the widest dense layer, or the routed experts' total). */
    ffnHiddenBytes: number;
  };
}

export interface AnalyzeOptions {
  /** Keys per token for the attention FLOPs and the whole-cache size; default min(maxPositionEmbeddings, 2048). */
  contextLength?: number;
}

function byDType(elements: number): BytesByDType {
  return { f32: elements * dtypeBytes.f32, f16: elements * dtypeBytes.f16, bf16: elements * dtypeBytes.bf16 };
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function countParams(config: ModelConfig): ParamCounts {
  const specs = parameterSpecs(config);
  const layers = layerSpecs(config);
  const parts: Record<ParamPart, number> = { embedding: 0, attention: 0, ffn: 0, norm: 0, head: 0 };
  const perLayer: LayerParams[] = layers.map((l) => ({
    layer: l.index,
    numAttentionHeads: l.numAttentionHeads,
    numKeyValueHeads: l.numKeyValueHeads,
    intermediateSize: l.intermediateSize,
    moe: l.moe,
    attention: 0,
    ffn: 0,
    norm: 0,
    total: 0,
  }));
  let unusedExperts = 0;
  const moe = config.moe;
  for (const spec of specs) {
    const n = numel(spec.shape);
    parts[spec.part] += n;
    const match = /^model\.layers\.(\d+)\./.exec(spec.path);
    if (match) {
      const entry = perLayer[Number(match[1])]!;
      if (spec.part === 'attention' || spec.part === 'ffn' || spec.part === 'norm') entry[spec.part] += n;
      entry.total += n;
    }
    if (moe && /\.mlp\.experts\.\d+\./.test(spec.path)) unusedExperts += n;
  }
  let activePerToken = 0;
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  if (moe) {
    // Every expert has the same size, so the routed share a token touches is k / numExperts of them.
    activePerToken = total - unusedExperts * (1 - moe.numExpertsPerToken / moe.numExperts);
  } else {
    activePerToken = total;
  }
  return { total, ...parts, nonEmbedding: total - parts.embedding, activePerToken, perLayer };
}

/** Multiply-adds of one token through one physical block (attending to `keys` keys). */
function blockMacs(
  config: ModelConfig,
  layer: LayerSpec,
  keys: number,
): { projections: number; scores: number; ffn: number } {
  const d = config.hiddenSize;
  const h = layer.numAttentionHeads;
  let projections: number;
  let scores: number;
  if (config.mla) {
    const m = config.mla;
    const qk = qkHeadDim(config);
    const q = m.qLoraRank === null ? d * h * qk : d * m.qLoraRank + m.qLoraRank * h * qk;
    projections =
      q +
      d * (m.kvLoraRank + m.qkRopeHeadDim) +
      m.kvLoraRank * h * (m.qkNopeHeadDim + m.vHeadDim) +
      h * m.vHeadDim * d;
    // Decompressed form (as the model computes it): q·k over qk dims, weights·v over v dims.
    scores = h * keys * (qk + m.vHeadDim);
  } else {
    const hd = config.headDim;
    const g = layer.numKeyValueHeads;
    projections = d * h * hd + 2 * d * g * hd + h * hd * d;
    scores = 2 * h * keys * hd;
  }
  if (config.augmentedShortcuts) {
    const r = d / config.augmentedShortcuts.reduction;
    projections += config.augmentedShortcuts.count * 2 * d * r;
  }
  const matrices = config.ffnType === 'gated' ? 3 : 2;
  let ffn: number;
  if (layer.moe && config.moe) {
    const moe = config.moe;
    ffn =
      d * moe.numExperts +
      moe.numExpertsPerToken * matrices * d * moe.moeIntermediateSize +
      matrices * d * moe.moeIntermediateSize * moe.numSharedExperts;
  } else {
    ffn = matrices * d * layer.intermediateSize;
  }
  return { projections, scores, ffn };
}

function attentionKind(
  config: ModelConfig,
  layers: LayerSpec[],
): ConfigAnalysis['architecture']['attention'] {
  if (config.mla) return 'MLA';
  const kinds = new Set(
    layers.map((l) =>
      l.numKeyValueHeads === l.numAttentionHeads ? 'MHA' : l.numKeyValueHeads === 1 ? 'MQA' : 'GQA',
    ),
  );
  return kinds.size === 1 ? [...kinds][0]! : 'mixed';
}

function activationSizes(
  config: ModelConfig,
  layers: LayerSpec[],
  tokens: number,
): ConfigAnalysis['activations'] {
  const f32 = dtypeBytes.f32;
  let scores = 0;
  let ffn = 0;
  for (const l of layers) {
    const keys = l.window === null ? tokens : Math.min(tokens, l.window);
    scores = Math.max(scores, l.numAttentionHeads * tokens * keys * f32);
    const width =
      l.moe && config.moe
        ? config.moe.moeIntermediateSize * (config.moe.numExpertsPerToken + config.moe.numSharedExperts)
        : l.intermediateSize;
    ffn = Math.max(ffn, tokens * width * f32);
  }
  return { logitsBytes: tokens * config.vocabSize * f32, attentionScoresBytes: scores, ffnHiddenBytes: ffn };
}

export function analyzeConfig(config: ModelConfig, options: AnalyzeOptions = {}): ConfigAnalysis {
  const contextLength = options.contextLength ?? Math.min(config.maxPositionEmbeddings, 2048);
  if (!Number.isInteger(contextLength) || contextLength <= 0) {
    throw new Error(`contextLength must be a positive integer, got ${contextLength}`);
  }
  const layers = layerSpecs(config);
  const order = executionOrder(config);

  const macs = {
    attentionProjections: 0,
    attentionScores: 0,
    ffn: 0,
    lmHead: config.hiddenSize * config.vocabSize,
  };
  let kvElements = 0;
  let kvElementsAtContext = 0;
  let slidingLayers = 0;
  for (const physical of order) {
    const layer = layers[physical]!;
    const keys = layer.window === null ? contextLength : Math.min(contextLength, layer.window);
    const block = blockMacs(config, layer, keys);
    macs.attentionProjections += block.projections;
    macs.attentionScores += block.scores;
    macs.ffn += block.ffn;
    const perToken = config.mla
      ? config.mla.kvLoraRank + config.mla.qkRopeHeadDim
      : 2 * layer.numKeyValueHeads * config.headDim;
    kvElements += perToken;
    kvElementsAtContext += perToken * keys;
    if (layer.window !== null) slidingLayers++;
  }
  const forwardMacs = macs.attentionProjections + macs.attentionScores + macs.ffn + macs.lmHead;

  const params = countParams(config);
  const kvCache: KVCacheInfo = {
    kind: config.mla ? 'mla' : 'standard',
    virtualLayers: order.length,
    elementsPerToken: kvElements,
    bytesPerToken: byDType(kvElements),
    slidingLayers,
    slidingWindow: slidingLayers > 0 ? config.slidingWindow : null,
    bytesAtContext: byDType(kvElementsAtContext),
  };
  if (config.mla) {
    const m = config.mla;
    const perLayer = order.reduce(
      (n, physical) =>
        n + layers[physical]!.numAttentionHeads * (m.qkNopeHeadDim + m.qkRopeHeadDim + m.vHeadDim),
      0,
    );
    kvCache.decompressedBytesPerToken = byDType(perLayer);
  }
  return {
    architecture: {
      attention: attentionKind(config, layers),
      perLayerWidths: config.perLayer !== null || config.layerScaling !== null,
      numLayers: config.numLayers,
      virtualLayers: order.length,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxPositionEmbeddings: config.maxPositionEmbeddings,
      tiedEmbeddings: config.tieWordEmbeddings,
      moe: config.moe !== null,
    },
    params,
    flopsPerToken: {
      contextLength,
      forward: 2 * forwardMacs,
      training: 6 * forwardMacs,
      breakdown: {
        attentionProjections: 2 * macs.attentionProjections,
        attentionScores: 2 * macs.attentionScores,
        ffn: 2 * macs.ffn,
        lmHead: 2 * macs.lmHead,
      },
    },
    kvCacheBytesPerToken: kvCache.bytesPerToken,
    kvCache,
    weightBytes: byDType(params.total),
    trainingStateBytes: byDType(4 * params.total),
    activations: activationSizes(config, layers, contextLength),
  };
}
