/**
 * The configs tests/webgpu/decode-plan.test.ts decodes through the plan against the cpu: one per
 * feature of the planned step (attention kinds, RoPE variants, norms, FFN kinds, MLA, MoE, odd widths
 * that take the scalar kernels).
 */
import type { ModelConfigInput } from '../../src/config/model-config.js';

export interface PlanCase {
  name: string;
  config: ModelConfigInput;
  splits?: number;
  seed?: number;
  subgroups?: boolean;
  fuseCombine?: boolean;
  matvecTuning?: Record<string, { lanes?: number; rowBlocks?: number }>;
}

export const planCases: PlanCase[] = [
  {
    name: 'GQA 3:1, tied head',
    config: {
      vocabSize: 97,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 6,
      numKeyValueHeads: 2,
      intermediateSize: 44,
    },
  },
  {
    name: 'MQA, untied head, q/k/v bias, 4 attention splits',
    config: {
      vocabSize: 130,
      hiddenSize: 32,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 1,
      tieWordEmbeddings: false,
      attentionBias: { q: true, k: true, v: true },
    },
    splits: 4,
  },
  {
    name: 'partial rotary 0.5, MHA, 3 layers',
    config: {
      vocabSize: 64,
      hiddenSize: 64,
      numLayers: 3,
      numAttentionHeads: 4,
      rope: { partialRotaryFactor: 0.5, theta: 500 },
    },
    splits: 3,
  },
  {
    name: 'odd head dim 9, width 30 (scalar kernels), partial rotary',
    config: {
      vocabSize: 50,
      hiddenSize: 30,
      numLayers: 2,
      numAttentionHeads: 3,
      numKeyValueHeads: 1,
      headDim: 9,
      intermediateSize: 22,
      rope: { partialRotaryFactor: 0.5 },
    },
    seed: 11,
  },
  {
    name: 'interleaved RoPE with llama3 scaling, o and MLP biases, explicit attention scale',
    config: {
      vocabSize: 70,
      hiddenSize: 40,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      attentionBias: true,
      mlpBias: true,
      attentionScale: 0.3,
      tieWordEmbeddings: false,
      rope: {
        interleaved: true,
        scaling: {
          type: 'llama3',
          factor: 8,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositionEmbeddings: 16,
        },
      },
    },
    splits: 5,
  },
  {
    name: 'vocabulary of 5000 (625 argmax blocks across the final reduction)',
    config: { vocabSize: 5000, hiddenSize: 32, numLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1 },
  },
  {
    name: 'GQA 2:1, every matvec kind at 4–16 lanes a row (shuffle sums), 2 splits',
    config: {
      vocabSize: 300,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 96,
      tieWordEmbeddings: false,
    },
    splits: 2,
    matvecTuning: {
      'layer # norm·qkv': { lanes: 8 },
      'layer # combine·o-proj+residual': { lanes: 16 },
      'layer # norm·gate/up·act': { lanes: 4 },
      'layer # down+residual': { lanes: 16 },
      'norm·lm-head·argmax': { lanes: 32, rowBlocks: 3 }, // 24 rows a workgroup: 13 partials, not 10
    },
  },
];
planCases.push(
  {
    ...planCases[0]!,
    name: `${planCases[0]!.name}, one split over 29 positions (two score passes)`,
    splits: 1,
  },
  { ...planCases[1]!, name: `${planCases[1]!.name}, combine as a dispatch of its own`, fuseCombine: false },
  {
    name: 'Qwen3-style per-head q/k RMSNorm, head dim 64, 3 splits',
    config: {
      vocabSize: 90,
      hiddenSize: 128,
      numLayers: 2,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    },
    splits: 3,
  },
  {
    name: 'sliding window 5 on every other layer, 3 splits (whole splits before the window)',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      slidingWindow: 5,
      layerTypes: ['sliding', 'full'],
    },
    splits: 3,
  },
  {
    name: 'sliding window 7, one split',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      slidingWindow: 7,
      layerTypes: ['sliding', 'sliding'],
    },
    splits: 1,
  },
  {
    name: 'MobileLLM-LS block sharing (each block twice), 3 splits',
    config: {
      vocabSize: 60,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 6,
      numKeyValueHeads: 2,
      intermediateSize: 40,
      layerSharing: { mode: 'immediate', repeats: 2 },
    },
    splits: 3,
  },
  {
    name: 'OpenELM layer-wise scaling (per-layer heads and FFN widths) with q/k norm',
    config: {
      vocabSize: 60,
      hiddenSize: 64,
      numLayers: 3,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      headDim: 16,
      layerScaling: {
        qkvMultipliers: [0.5, 1.0],
        ffnMultipliers: [0.5, 2.0],
        numGqaGroups: 2,
        ffnDimDivisor: 8,
      },
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    },
  },
  {
    name: 'Gemma2-like: sandwich (1 + w) norms, tanh-GELU, embedding scale, tight soft-caps, sliding layer',
    config: {
      vocabSize: 64,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      norm: { type: 'rmsnorm', eps: 1e-6, plusOne: true },
      normPlacement: 'sandwich',
      hiddenAct: 'gelu_tanh',
      embeddingScale: 4,
      attnLogitSoftcap: 2,
      finalLogitSoftcap: 4,
      slidingWindow: 6,
      layerTypes: ['sliding', 'full'],
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    },
    splits: 2,
    seed: 11,
  },
  {
    name: 'MLA without a query LoRA (DeepSeek-V2-Lite style), interleaved RoPE, 3 splits',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 4,
      headDim: 24,
      mla: {
        qLoraRank: null,
        kvLoraRank: 32,
        qkNopeHeadDim: 16,
        qkRopeHeadDim: 8,
        vHeadDim: 12,
        latentNormEps: 1e-6,
      },
      rope: { interleaved: true },
    },
    splits: 3,
  },
  {
    name: 'MLA with a latent rank of 30 (scalar latent cache reads, not vec4), 2 splits',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 3,
      headDim: 24,
      mla: { qLoraRank: null, kvLoraRank: 30, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 12 },
    },
    splits: 2,
  },
  {
    name: 'MLA with a query LoRA and MiniCPM scales (embedding, residual, logit)',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 3,
      numAttentionHeads: 2,
      headDim: 24,
      mla: { qLoraRank: 24, kvLoraRank: 40, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 20 },
      embeddingScale: 3,
      residualScale: 0.7,
      logitScale: 0.5,
    },
  },
  {
    name: 'GPT-2-like: LayerNorm with bias, learned positions, standard GELU (erf) FFN, all biases',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 4,
      intermediateSize: 96,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      positionEmbedding: 'learned',
      ffnType: 'standard',
      hiddenAct: 'gelu',
      attentionBias: { q: true, k: true, v: true, o: true },
      mlpBias: true,
      maxPositionEmbeddings: 64,
    },
    splits: 2,
  },
  {
    name: 'Pythia-like: parallel block with two LayerNorms, partial rotary 0.25, ReLU FFN',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      intermediateSize: 80,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      blockTopology: 'parallel_two_norms',
      rope: { partialRotaryFactor: 0.25 },
      ffnType: 'standard',
      hiddenAct: 'relu',
      mlpBias: true,
    },
  },
  {
    name: 'Phi-like: parallel block with one LayerNorm, tanh-GELU FFN, LM head bias',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      intermediateSize: 80,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      blockTopology: 'parallel',
      rope: { partialRotaryFactor: 0.5 },
      ffnType: 'standard',
      hiddenAct: 'gelu_tanh',
      tieWordEmbeddings: false,
      lmHeadBias: true,
    },
  },
  {
    name: 'OLMo2-like: post-norms, q/k RMSNorm over the whole projections, 3 splits',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      normPlacement: 'post',
      qkNorm: { type: 'rmsnorm', scope: 'projection', perHeadWeights: false, bias: false },
      tieWordEmbeddings: false,
    },
    splits: 3,
  },
  {
    name: 'MoE: 8 experts, top-3 of softmax scores renormalised, 2 groups (max), 2 shared experts, dense first layer',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 3,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 64,
      moe: {
        numExperts: 8,
        numExpertsPerToken: 3,
        moeIntermediateSize: 20,
        numSharedExperts: 2,
        firstKDenseReplace: 1,
        normTopkProb: true,
        routedScalingFactor: 1.5,
        scoringFunc: 'softmax',
        correctionBias: false,
        groupLimit: { numGroups: 2, topkGroup: 1, groupScore: 'max' },
      },
    },
    splits: 2,
  },
  {
    name: 'MoE: sigmoid scores with top-2 sums per group, no shared experts',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      moe: {
        numExperts: 6,
        numExpertsPerToken: 2,
        moeIntermediateSize: 24,
        numSharedExperts: 0,
        firstKDenseReplace: 0,
        normTopkProb: false,
        routedScalingFactor: 1,
        scoringFunc: 'sigmoid',
        correctionBias: false,
        groupLimit: { numGroups: 3, topkGroup: 2, groupScore: 'top2_sum' },
      },
    },
  },
  {
    name: 'MoE with rows of odd lengths (scalar expert loads): hidden 42, expert width 18, a shared expert',
    config: {
      vocabSize: 71,
      hiddenSize: 42,
      numLayers: 2,
      numAttentionHeads: 3,
      numKeyValueHeads: 1,
      moe: {
        numExperts: 5,
        numExpertsPerToken: 3,
        moeIntermediateSize: 18,
        numSharedExperts: 1,
        firstKDenseReplace: 0,
        normTopkProb: true,
        routedScalingFactor: 1,
        scoringFunc: 'softmax',
        correctionBias: false,
      },
    },
  },
  {
    name: 'head dim 128 (two output dims per invocation), GQA 2:1',
    config: { vocabSize: 80, hiddenSize: 256, numLayers: 2, numAttentionHeads: 2, numKeyValueHeads: 1 },
  },
);
// The same shapes with barrier-tree reductions (the default uses subgroups where the device has them).
for (const i of [0, 1, 3, planCases.findIndex((c) => c.name.startsWith('GPT-2-like'))])
  planCases.push({ ...planCases[i]!, name: `${planCases[i]!.name}, no subgroups`, subgroups: false });
