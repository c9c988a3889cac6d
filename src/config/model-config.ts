/**
 * ModelConfig: one typed description of a decoder-only transformer covering the SLM design space
 * (DESIGN.md's table). Family adapters (src/families) translate Hugging Face config.json files to it;
 * `defineConfig` fills defaults and `validateConfig` rejects inconsistent choices with an error that
 * names the field and the reason.
 */
import { validateConfig } from './validate.js';

export type Activation = 'relu' | 'gelu' | 'gelu_tanh' | 'silu' | 'relu2';
export type NormType = 'rmsnorm' | 'layernorm';

export interface NormConfig {
  type: NormType;
  eps: number;
  /** Gemma's RMSNorm: scale by (1 + w), weights initialised at zero. */
  plusOne: boolean;
  /** LayerNorm has a bias (ignored for RMSNorm). */
  bias: boolean;
  /** Learnable scale (false: OLMo-1's parameter-free LayerNorm). */
  affine: boolean;
}

export interface RopeScaling {
  type: 'linear' | 'dynamic' | 'llama3' | 'yarn' | 'longrope';
  factor: number;
  /** llama3 */
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
  /** yarn */
  betaFast?: number;
  betaSlow?: number;
  mscale?: number;
  mscaleAllDim?: number;
  attentionFactor?: number;
  truncate?: boolean;
  /** longrope: per-frequency divisors below / above the original context. */
  shortFactor?: number[];
  longFactor?: number[];
}

export interface RopeConfig {
  theta: number;
  /** Fraction of each head's dims that rotate (Phi-2 0.4, Pythia 0.25). */
  partialRotaryFactor: number;
  /** Pairs (2i, 2i+1) (GPT-J, DeepSeek) instead of rotate-half (i, i + D/2). */
  interleaved: boolean;
  scaling: RopeScaling | null;
}

export interface QKNormConfig {
  type: NormType;
  /** 'head': over head_dim (Qwen3, Gemma3, OpenELM); 'projection': over the whole q/k projection (OLMo-2). */
  scope: 'head' | 'projection';
  /** One weight vector per head (StableLM's per-head LayerNorm) instead of one shared over heads. */
  perHeadWeights: boolean;
  bias: boolean;
}

export interface AttentionBias {
  q: boolean;
  k: boolean;
  v: boolean;
  o: boolean;
}

/** Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3). */
export interface MLAConfig {
  /** Rank of the query compression; null: a plain q_proj. */
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  /** Epsilon of the latent RMSNorms (q_a_layernorm, kv_a_layernorm); absent: norm.eps. HF uses 1e-6. */
  latentNormEps?: number;
}

/** DeepSeek-style mixture of experts in the FFN of layers >= firstKDenseReplace. */
export interface MoEConfig {
  numExperts: number;
  numExpertsPerToken: number;
  moeIntermediateSize: number;
  numSharedExperts: number;
  firstKDenseReplace: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  scoringFunc: 'softmax' | 'sigmoid';
  /** DeepSeek-V3's e_score_correction_bias. */
  correctionBias: boolean;
  /**
   * Group-limited routing (DeepSeek-V2 group_limited_greedy: group score = max; V3 noaux_tc: sum of
   * the top two): experts form numGroups groups, only the topkGroup best groups compete. Absent: none.
   */
  groupLimit?: { numGroups: number; topkGroup: number; groupScore: 'max' | 'top2_sum' } | null;
}

/** PanGu-π series informed activation: Σ_i act(a_i x + b_i) with learnable scalars a_i, b_i. */
export interface SeriesActivationConfig {
  terms: number;
}

/** PanGu-π augmented shortcuts: `count` bottleneck branches GELU(x Θ1) Θ2 (d -> d/reduction -> d) beside attention. */
export interface AugmentedShortcutsConfig {
  count: number;
  reduction: number;
}

/** MobileLLM immediate block repeat (0,0,1,1,…) or cyclic reuse (0,1,…,L−1,0,1,…). */
export interface LayerSharingConfig {
  mode: 'immediate' | 'cyclic';
  repeats: number;
}

/** OpenELM layer-wise scaling: per-layer query heads and FFN width from linear multipliers. */
export interface LayerScalingConfig {
  qkvMultipliers: [number, number];
  ffnMultipliers: [number, number];
  /** Query heads per KV head (OpenELM's num_gqa_groups); heads round to multiples of it. */
  numGqaGroups: number;
  ffnDimDivisor: number;
}

export type LayerType = 'full' | 'sliding';
export type NormPlacement = 'pre' | 'sandwich' | 'post';
export type BlockTopology = 'sequential' | 'parallel' | 'parallel_two_norms';
export type PositionEmbedding = 'rope' | 'learned' | 'none';

export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number;
  /** Distinct (physical) blocks; with layer sharing each is executed `repeats` times. */
  numLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;

  /** Explicit per-layer head counts and FFN widths (OpenELM); filled from layerScaling when given. */
  perLayer: { numAttentionHeads: number[]; numKeyValueHeads: number[]; intermediateSize: number[] } | null;
  layerScaling: LayerScalingConfig | null;

  attentionBias: AttentionBias;
  qkNorm: QKNormConfig | null;
  /** Multiplier of q·k; null: 1/√(query-key head dim). Gemma: query_pre_attn_scalar^-0.5. */
  attentionScale: number | null;
  attnLogitSoftcap: number | null;
  slidingWindow: number | null;
  /** Per physical layer; 'sliding' layers use slidingWindow. */
  layerTypes: LayerType[];
  mla: MLAConfig | null;
  moe: MoEConfig | null;

  positionEmbedding: PositionEmbedding;
  rope: RopeConfig;
  /** RoPE of sliding layers when it differs (Gemma-3's local base frequency). */
  ropeSliding: RopeConfig | null;
  /** Layers without positional encoding (NoPE) in a RoPE model. */
  noRopeLayers: number[];

  ffnType: 'gated' | 'standard';
  hiddenAct: Activation;
  mlpBias: boolean;
  seriesActivation: SeriesActivationConfig | null;

  norm: NormConfig;
  normPlacement: NormPlacement;
  blockTopology: BlockTopology;
  augmentedShortcuts: AugmentedShortcutsConfig | null;

  tieWordEmbeddings: boolean;
  lmHeadBias: boolean;
  /** Multiplies token embeddings (Gemma √d, MiniCPM scale_emb). */
  embeddingScale: number | null;
  /** Multiplies each residual branch (MiniCPM scale_depth/√L). */
  residualScale: number | null;
  /** Multiplies the final hidden state before the LM head (MiniCPM: dim_model_base/d). */
  logitScale: number | null;
  finalLogitSoftcap: number | null;

  layerSharing: LayerSharingConfig | null;

  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  initializerRange: number;
}

export type ModelConfigInput = Partial<Omit<ModelConfig, 'norm' | 'rope' | 'attentionBias'>> & {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numAttentionHeads: number;
  norm?: Partial<NormConfig>;
  rope?: Partial<RopeConfig>;
  attentionBias?: Partial<AttentionBias> | boolean;
};

/**
 * A complete config from the fields given; the defaults are the typical modern SLM (GQA-ready
 * Llama-style block: RMSNorm pre-norm, gated SiLU FFN with ratio 8/3, RoPE θ=10000, tied embeddings).
 */
export function defineConfig(input: ModelConfigInput): ModelConfig {
  const heads = input.numAttentionHeads;
  const headDim = input.headDim ?? Math.floor(input.hiddenSize / heads);
  const numLayers = input.numLayers;
  const bias = input.attentionBias;
  const config: ModelConfig = {
    vocabSize: input.vocabSize,
    hiddenSize: input.hiddenSize,
    numLayers,
    numAttentionHeads: heads,
    numKeyValueHeads: input.numKeyValueHeads ?? heads,
    headDim,
    intermediateSize: input.intermediateSize ?? 4 * Math.ceil((8 * input.hiddenSize) / 3 / 4),
    maxPositionEmbeddings: input.maxPositionEmbeddings ?? 2048,
    perLayer: input.perLayer ?? null,
    layerScaling: input.layerScaling ?? null,
    attentionBias:
      typeof bias === 'boolean'
        ? { q: bias, k: bias, v: bias, o: bias }
        : { q: false, k: false, v: false, o: false, ...(bias ?? {}) },
    qkNorm: input.qkNorm ?? null,
    attentionScale: input.attentionScale ?? null,
    attnLogitSoftcap: input.attnLogitSoftcap ?? null,
    slidingWindow: input.slidingWindow ?? null,
    layerTypes: input.layerTypes ?? new Array<LayerType>(numLayers).fill('full'),
    mla: input.mla ?? null,
    moe: input.moe ?? null,
    positionEmbedding: input.positionEmbedding ?? 'rope',
    rope: { theta: 10000, partialRotaryFactor: 1, interleaved: false, scaling: null, ...(input.rope ?? {}) },
    ropeSliding: input.ropeSliding ?? null,
    noRopeLayers: input.noRopeLayers ?? [],
    ffnType: input.ffnType ?? 'gated',
    hiddenAct: input.hiddenAct ?? 'silu',
    mlpBias: input.mlpBias ?? false,
    seriesActivation: input.seriesActivation ?? null,
    norm: { type: 'rmsnorm', eps: 1e-5, plusOne: false, bias: false, affine: true, ...(input.norm ?? {}) },
    normPlacement: input.normPlacement ?? 'pre',
    blockTopology: input.blockTopology ?? 'sequential',
    augmentedShortcuts: input.augmentedShortcuts ?? null,
    tieWordEmbeddings: input.tieWordEmbeddings ?? true,
    lmHeadBias: input.lmHeadBias ?? false,
    embeddingScale: input.embeddingScale ?? null,
    residualScale: input.residualScale ?? null,
    logitScale: input.logitScale ?? null,
    finalLogitSoftcap: input.finalLogitSoftcap ?? null,
    layerSharing: input.layerSharing ?? null,
    bosTokenId: input.bosTokenId ?? null,
    eosTokenIds: input.eosTokenIds ?? [],
    padTokenId: input.padTokenId ?? null,
    initializerRange: input.initializerRange ?? 0.02,
  };
  validateConfig(config);
  return config;
}
