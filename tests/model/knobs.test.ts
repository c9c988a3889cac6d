/**
 * Every knob of the design-space table: a tiny model with it builds, runs forward and backward, and its
 * whole-model gradient matches finite differences (float64).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { checkModelGradients } from '../helpers/model-gradcheck.js';

const base: ModelConfigInput = {
  vocabSize: 19,
  hiddenSize: 16,
  numLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 20,
  maxPositionEmbeddings: 32,
  tieWordEmbeddings: true,
};

const knobs: Record<string, Partial<ModelConfigInput>> = {
  MHA: { numKeyValueHeads: 4 },
  MQA: { numKeyValueHeads: 1 },
  'GQA ratio 3': { numAttentionHeads: 6, numKeyValueHeads: 2, headDim: 4 },
  'explicit head dim': { headDim: 6 },
  'MLA (plain q_proj)': {
    numKeyValueHeads: 4,
    mla: { qLoraRank: null, kvLoraRank: 6, qkNopeHeadDim: 4, qkRopeHeadDim: 2, vHeadDim: 3 },
  },
  'MLA (low-rank q)': {
    numKeyValueHeads: 4,
    mla: { qLoraRank: 5, kvLoraRank: 6, qkNopeHeadDim: 4, qkRopeHeadDim: 4, vHeadDim: 3 },
    rope: { interleaved: true },
  },
  'standard FFN, ReLU': { ffnType: 'standard', hiddenAct: 'relu' },
  'standard FFN, GELU': { ffnType: 'standard', hiddenAct: 'gelu' },
  'gated GELU-tanh': { hiddenAct: 'gelu_tanh' },
  'ReLU²': { hiddenAct: 'relu2' },
  'FFN width ratio 8 with bias': { intermediateSize: 96, mlpBias: true },
  'series informed activation': { seriesActivation: { terms: 2 } },
  'LayerNorm with bias': { norm: { type: 'layernorm', bias: true } },
  'LayerNorm without bias': { norm: { type: 'layernorm', bias: false } },
  'parameter-free LayerNorm': { norm: { type: 'layernorm', affine: false } },
  '(1 + w) RMSNorm': { norm: { plusOne: true, eps: 1e-6 } },
  'sandwich norms': { normPlacement: 'sandwich', norm: { plusOne: true } },
  'post-norm (OLMo-2)': { normPlacement: 'post' },
  'parallel residual, one norm': { blockTopology: 'parallel', norm: { type: 'layernorm', bias: true } },
  'parallel residual, two norms': { blockTopology: 'parallel_two_norms' },
  'augmented shortcuts': { augmentedShortcuts: { count: 2, reduction: 4 } },
  'untied head with bias': { tieWordEmbeddings: false, lmHeadBias: true },
  'block sharing, immediate': { layerSharing: { mode: 'immediate', repeats: 2 } },
  'block sharing, cyclic': { layerSharing: { mode: 'cyclic', repeats: 2 } },
  'OpenELM layer-wise scaling': {
    numLayers: 3,
    headDim: 4,
    layerScaling: {
      qkvMultipliers: [0.5, 1.0],
      ffnMultipliers: [0.5, 2.0],
      numGqaGroups: 2,
      ffnDimDivisor: 4,
    },
  },
  'explicit per-layer widths': {
    perLayer: { numAttentionHeads: [2, 4], numKeyValueHeads: [1, 2], intermediateSize: [8, 16] },
  },
  'partial rotary': { rope: { partialRotaryFactor: 0.5 } },
  'interleaved RoPE': { rope: { interleaved: true } },
  'linear RoPE scaling': { rope: { scaling: { type: 'linear', factor: 4 } } },
  'dynamic NTK scaling': { maxPositionEmbeddings: 4, rope: { scaling: { type: 'dynamic', factor: 2 } } },
  'llama3 RoPE scaling': {
    rope: {
      theta: 500000,
      scaling: {
        type: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8,
      },
    },
  },
  'YaRN scaling': {
    rope: {
      scaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 8, mscale: 0.7, mscaleAllDim: 0.7 },
    },
  },
  'LongRoPE scaling': {
    maxPositionEmbeddings: 16,
    rope: {
      scaling: {
        type: 'longrope',
        factor: 4,
        originalMaxPositionEmbeddings: 4,
        shortFactor: [1, 1.5],
        longFactor: [2, 3],
      },
    },
  },
  'learned positions (GPT-2)': {
    positionEmbedding: 'learned',
    ffnType: 'standard',
    hiddenAct: 'gelu_tanh',
    norm: { type: 'layernorm', bias: true },
  },
  NoPE: { positionEmbedding: 'none' },
  'NoPE on some layers': { noRopeLayers: [1] },
  'q/k RMSNorm per head': { qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false } },
  'q/k RMSNorm over projection': {
    qkNorm: { type: 'rmsnorm', scope: 'projection', perHeadWeights: false, bias: false },
  },
  'q/k LayerNorm per head weights': {
    qkNorm: { type: 'layernorm', scope: 'head', perHeadWeights: true, bias: true },
  },
  'q/k/v/o bias': { attentionBias: true },
  'q/k/v bias only (Qwen2)': { attentionBias: { q: true, k: true, v: true, o: false } },
  'attention logit soft-cap': { attnLogitSoftcap: 0.7 },
  'final logit soft-cap': { finalLogitSoftcap: 0.5 },
  'sliding window per layer': { slidingWindow: 3, layerTypes: ['sliding', 'full'] },
  'dual RoPE theta for sliding layers': {
    slidingWindow: 3,
    layerTypes: ['sliding', 'full'],
    ropeSliding: { theta: 100, partialRotaryFactor: 1, interleaved: false, scaling: null },
  },
  'embedding scale': { embeddingScale: 4 },
  'query pre-attention scalar': { attentionScale: 0.25 },
  'residual and logit scaling (MiniCPM)': { residualScale: 0.5, logitScale: 0.25, embeddingScale: 3 },
  'mixture of experts': {
    numLayers: 2,
    moe: {
      numExperts: 3,
      numExpertsPerToken: 2,
      moeIntermediateSize: 6,
      numSharedExperts: 1,
      firstKDenseReplace: 1,
      normTopkProb: true,
      routedScalingFactor: 1.5,
      scoringFunc: 'softmax',
      correctionBias: false,
    },
  },
};

for (const [name, knob] of Object.entries(knobs)) {
  test(`knob: ${name}`, () => {
    const config = defineConfig({ ...base, ...knob } as ModelConfigInput);
    const { checked } = checkModelGradients(config);
    assert.ok(checked >= 8, `only ${checked} entries checked`);
  });
}
