/**
 * Named configs of real small language models (shapes only; no weights), for `slm analyze`, benchmarks
 * and as starting points: `defineConfig({ ...presets['smollm2-135m'].input, numLayers: 12 })`.
 * Values come from the models' Hugging Face config.json files (reference/architecture.md §4, §6).
 */
import { defineConfig, type ModelConfig, type ModelConfigInput } from './model-config.js';

export interface Preset {
  name: string;
  description: string;
  /** The Hugging Face repository whose config.json the shape follows. */
  source: string | null;
  input: ModelConfigInput;
}

const list: Preset[] = [
  {
    name: 'tiny',
    description: 'a tiny Llama-style GQA model for tests and quick experiments',
    source: null,
    input: {
      vocabSize: 512,
      hiddenSize: 64,
      numLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 192,
      maxPositionEmbeddings: 512,
    },
  },
  {
    name: 'smollm2-135m',
    description: 'SmolLM2-135M: deep-and-thin Llama, GQA 9/3, tied embeddings',
    source: 'HuggingFaceTB/SmolLM2-135M',
    input: {
      vocabSize: 49152,
      hiddenSize: 576,
      numLayers: 30,
      numAttentionHeads: 9,
      numKeyValueHeads: 3,
      headDim: 64,
      intermediateSize: 1536,
      maxPositionEmbeddings: 8192,
      rope: { theta: 100000 },
      norm: { type: 'rmsnorm', eps: 1e-5 },
      tieWordEmbeddings: true,
      bosTokenId: 0,
      eosTokenIds: [0],
      initializerRange: 0.041666666666666664,
    },
  },
  {
    name: 'qwen2.5-0.5b',
    description: 'Qwen2.5-0.5B: GQA 14/2 with q/k/v bias, 152k vocabulary, tied embeddings',
    source: 'Qwen/Qwen2.5-0.5B',
    input: {
      vocabSize: 151936,
      hiddenSize: 896,
      numLayers: 24,
      numAttentionHeads: 14,
      numKeyValueHeads: 2,
      headDim: 64,
      intermediateSize: 4864,
      maxPositionEmbeddings: 32768,
      attentionBias: { q: true, k: true, v: true, o: false },
      rope: { theta: 1000000 },
      norm: { type: 'rmsnorm', eps: 1e-6 },
      tieWordEmbeddings: true,
      bosTokenId: 151643,
      eosTokenIds: [151643],
    },
  },
  {
    name: 'llama3.2-1b',
    description: 'Llama-3.2-1B: GQA 32/8, 128k vocabulary, llama3 RoPE scaling (factor 32), tied',
    source: 'meta-llama/Llama-3.2-1B',
    input: {
      vocabSize: 128256,
      hiddenSize: 2048,
      numLayers: 16,
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      headDim: 64,
      intermediateSize: 8192,
      maxPositionEmbeddings: 131072,
      rope: {
        theta: 500000,
        scaling: {
          type: 'llama3',
          factor: 32,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositionEmbeddings: 8192,
        },
      },
      norm: { type: 'rmsnorm', eps: 1e-5 },
      tieWordEmbeddings: true,
      bosTokenId: 128000,
      eosTokenIds: [128001],
    },
  },
  {
    name: 'gpt2-124m',
    description: 'GPT-2 small: MHA, learned positions, LayerNorm, standard GELU-tanh FFN, biases, tied',
    source: 'openai-community/gpt2',
    input: {
      vocabSize: 50257,
      hiddenSize: 768,
      numLayers: 12,
      numAttentionHeads: 12,
      numKeyValueHeads: 12,
      intermediateSize: 3072,
      maxPositionEmbeddings: 1024,
      positionEmbedding: 'learned',
      attentionBias: true,
      ffnType: 'standard',
      hiddenAct: 'gelu_tanh',
      mlpBias: true,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      tieWordEmbeddings: true,
      bosTokenId: 50256,
      eosTokenIds: [50256],
    },
  },
  {
    name: 'openelm-270m',
    description: 'OpenELM-270M: layer-wise scaling (12-20 query heads, FFN 768-5120), q/k RMSNorm, tied',
    source: 'apple/OpenELM-270M',
    input: {
      vocabSize: 32000,
      hiddenSize: 1280,
      numLayers: 16,
      // The per-layer plan (layerScaling) decides the heads and widths; these are its largest values.
      numAttentionHeads: 20,
      numKeyValueHeads: 5,
      headDim: 64,
      intermediateSize: 5120,
      maxPositionEmbeddings: 2048,
      layerScaling: {
        qkvMultipliers: [0.5, 1.0],
        ffnMultipliers: [0.5, 4.0],
        numGqaGroups: 4,
        ffnDimDivisor: 256,
      },
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
      rope: { theta: 10000 },
      norm: { type: 'rmsnorm', eps: 1e-6 },
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
    },
  },
  {
    name: 'mobilellm-125m',
    description: 'MobileLLM-125M: deep-and-thin (30 x 576), GQA 9/3, shared input/output embedding',
    source: 'facebook/MobileLLM-125M',
    input: {
      vocabSize: 32000,
      hiddenSize: 576,
      numLayers: 30,
      numAttentionHeads: 9,
      numKeyValueHeads: 3,
      headDim: 64,
      intermediateSize: 1536,
      maxPositionEmbeddings: 2048,
      rope: { theta: 10000 },
      norm: { type: 'rmsnorm', eps: 1e-5 },
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
    },
  },
  {
    name: 'mobilellm-ls-125m',
    description: 'MobileLLM-LS-125M: MobileLLM-125M with each block run twice in a row (60 virtual layers)',
    source: 'facebook/MobileLLM-125M-layer-share',
    input: {
      vocabSize: 32000,
      hiddenSize: 576,
      numLayers: 30,
      numAttentionHeads: 9,
      numKeyValueHeads: 3,
      headDim: 64,
      intermediateSize: 1536,
      maxPositionEmbeddings: 2048,
      rope: { theta: 10000 },
      norm: { type: 'rmsnorm', eps: 1e-5 },
      tieWordEmbeddings: true,
      layerSharing: { mode: 'immediate', repeats: 2 },
      bosTokenId: 1,
      eosTokenIds: [2],
    },
  },
  {
    name: 'deepseek-v2-lite-like',
    description:
      'the DeepSeek-V2-Lite shape: MLA (kv_lora_rank 512, rope 64, no q compression) and MoE (64 experts, top-6, 2 shared)',
    source: 'deepseek-ai/DeepSeek-V2-Lite',
    input: {
      vocabSize: 102400,
      hiddenSize: 2048,
      numLayers: 27,
      numAttentionHeads: 16,
      numKeyValueHeads: 16,
      // head_dim = qk_rope_head_dim in DeepSeek configs; MLA's own dims are in `mla`.
      headDim: 64,
      intermediateSize: 10944,
      maxPositionEmbeddings: 163840,
      mla: { qLoraRank: null, kvLoraRank: 512, qkNopeHeadDim: 128, qkRopeHeadDim: 64, vHeadDim: 128 },
      moe: {
        numExperts: 64,
        numExpertsPerToken: 6,
        moeIntermediateSize: 1408,
        numSharedExperts: 2,
        firstKDenseReplace: 1,
        normTopkProb: false,
        routedScalingFactor: 1,
        scoringFunc: 'softmax',
        correctionBias: false,
      },
      rope: {
        theta: 10000,
        interleaved: true,
        scaling: {
          type: 'yarn',
          factor: 40,
          originalMaxPositionEmbeddings: 4096,
          betaFast: 32,
          betaSlow: 1,
          // biome-ignore lint/suspicious/noApproximativeNumericConstant: DeepSeek's config says 0.707, not 1/√2
          mscale: 0.707,
          // biome-ignore lint/suspicious/noApproximativeNumericConstant: as above
          mscaleAllDim: 0.707,
        },
      },
      norm: { type: 'rmsnorm', eps: 1e-6 },
      tieWordEmbeddings: false,
      bosTokenId: 100000,
      eosTokenIds: [100001],
    },
  },
];

export const presets: Readonly<Record<string, Preset>> = Object.fromEntries(list.map((p) => [p.name, p]));

export function presetNames(): string[] {
  return list.map((p) => p.name);
}

export function isPreset(name: string): boolean {
  return Object.hasOwn(presets, name);
}

/** A fresh, validated config of the named preset; throws with the list of names when unknown. */
export function presetConfig(name: string): ModelConfig {
  if (!isPreset(name)) {
    throw new Error(`unknown preset '${name}' (presets: ${presetNames().join(', ')})`);
  }
  return defineConfig(structuredClone(presets[name]!.input));
}
