/** analyzeConfig: KV bytes per token, FLOPs per token and MoE/MLA accounting, checked against hand formulas. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeConfig } from '../../src/config/analyze.js';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { presetConfig } from '../../src/config/presets.js';
import { parameterSpecs } from '../../src/model/params.js';

test('KV-cache bytes per token of the GQA presets (reference §2.1 table)', () => {
  const expected: Record<string, number> = {
    'smollm2-135m': 23_040,
    'mobilellm-125m': 23_040,
    'qwen2.5-0.5b': 12_288,
    'llama3.2-1b': 32_768,
    'gpt2-124m': 36_864,
  };
  for (const [name, bf16] of Object.entries(expected)) {
    const a = analyzeConfig(presetConfig(name));
    assert.equal(a.kvCacheBytesPerToken.bf16, bf16, name);
    assert.equal(a.kvCacheBytesPerToken.f16, bf16, name);
    assert.equal(a.kvCacheBytesPerToken.f32, 2 * bf16, name);
    assert.equal(a.kvCache.kind, 'standard');
  }
});

test('MLA caches the compressed latent: (kv_lora_rank + qk_rope_head_dim) x layers x dtype size', () => {
  const a = analyzeConfig(presetConfig('deepseek-v2-lite-like'));
  assert.equal(a.kvCache.kind, 'mla');
  assert.equal(a.kvCacheBytesPerToken.bf16, (512 + 64) * 27 * 2); // 31,104 (reference §2.2)
  assert.equal(a.kvCacheBytesPerToken.f32, (512 + 64) * 27 * 4);
  // What Hugging Face's cache of decompressed per-head K (192) and V (128) would take.
  assert.equal(a.kvCache.decompressedBytesPerToken?.bf16, 27 * 16 * (192 + 128) * 2); // 276,480

  const small = defineConfig({
    vocabSize: 50,
    hiddenSize: 32,
    numLayers: 5,
    numAttentionHeads: 4,
    mla: { qLoraRank: 12, kvLoraRank: 10, qkNopeHeadDim: 6, qkRopeHeadDim: 4, vHeadDim: 5 },
    layerSharing: { mode: 'cyclic', repeats: 3 },
  });
  const b = analyzeConfig(small);
  assert.equal(b.kvCache.virtualLayers, 15);
  assert.equal(b.kvCacheBytesPerToken.f16, (10 + 4) * 15 * 2);
});

test('analyze never allocates weights: a 15.7B-parameter MoE config is counted instantly', () => {
  const start = performance.now();
  const a = analyzeConfig(presetConfig('deepseek-v2-lite-like'));
  assert.ok(performance.now() - start < 2000);
  assert.equal(a.params.total, 15_706_484_224);
  assert.equal(a.architecture.attention, 'MLA');
  assert.ok(a.architecture.moe);
});

const plain: ModelConfigInput = {
  vocabSize: 1000,
  hiddenSize: 64,
  numLayers: 3,
  numAttentionHeads: 8,
  numKeyValueHeads: 2,
  headDim: 16,
  intermediateSize: 160,
  maxPositionEmbeddings: 4096,
};

test('FLOPs per token of a bias-free tied model = 2 x (matmul weights + LM head) + 4 L H d_h C', () => {
  const config = defineConfig(plain);
  const context = 300;
  const a = analyzeConfig(config, { contextLength: context });
  // Every parameter in a block except norm weights is a matmul weight used once per token.
  const blockMatmulWeights = parameterSpecs(config)
    .filter((s) => s.path.startsWith('model.layers.') && s.part !== 'norm')
    .reduce((n, s) => n + s.shape[0]! * s.shape[1]!, 0);
  const head = 1000 * 64;
  const attention = 2 * 3 * 8 * 16 * context; // q·k and weights·v: L x H x d_h x C each
  assert.equal(a.flopsPerToken.forward, 2 * (blockMatmulWeights + head + attention));
  assert.equal(a.flopsPerToken.training, 3 * a.flopsPerToken.forward);
  assert.equal(a.flopsPerToken.contextLength, context);
  const b = a.flopsPerToken.breakdown;
  assert.equal(b.attentionProjections + b.attentionScores + b.ffn + b.lmHead, a.flopsPerToken.forward);
  assert.equal(b.lmHead, 2 * head);
  assert.equal(b.attentionScores, 2 * attention);

  // The default context is min(maxPositionEmbeddings, 2048).
  assert.equal(analyzeConfig(config).flopsPerToken.contextLength, 2048);
  assert.equal(
    analyzeConfig(defineConfig({ ...plain, maxPositionEmbeddings: 512 })).flopsPerToken.contextLength,
    512,
  );
  assert.throws(() => analyzeConfig(config, { contextLength: 0 }), /contextLength/);
});

test('activation sizes: logits, one layer of unfused scores, the widest FFN hidden (float32)', () => {
  const a = analyzeConfig(defineConfig(plain), { contextLength: 100 });
  assert.deepEqual(a.activations, {
    logitsBytes: 100 * 1000 * 4,
    attentionScoresBytes: 8 * 100 * 100 * 4,
    ffnHiddenBytes: 100 * 160 * 4,
  });
  const windowed = defineConfig({
    ...plain,
    slidingWindow: 10,
    layerTypes: ['sliding', 'sliding', 'sliding'],
  });
  assert.equal(
    analyzeConfig(windowed, { contextLength: 100 }).activations.attentionScoresBytes,
    8 * 100 * 10 * 4,
  );
});

test('sliding-window layers attend to at most the window and cap their cache', () => {
  const config = defineConfig({
    ...plain,
    slidingWindow: 32,
    layerTypes: ['sliding', 'full', 'sliding'],
  });
  const a = analyzeConfig(config, { contextLength: 100 });
  assert.equal(a.flopsPerToken.breakdown.attentionScores, 2 * 2 * 8 * 16 * (32 + 100 + 32));
  const perLayer = 2 * 2 * 16; // K and V elements of one layer
  assert.equal(a.kvCache.elementsPerToken, 3 * perLayer);
  assert.equal(a.kvCache.bytesAtContext.f32, 4 * perLayer * (32 + 100 + 32));
  assert.equal(a.kvCache.slidingLayers, 2);
  assert.equal(a.kvCache.slidingWindow, 32);
});

test('MoE: router + top-k routed + shared experts in the FLOPs; active parameters per token', () => {
  const config = defineConfig({
    ...plain,
    numKeyValueHeads: 8,
    moe: {
      numExperts: 8,
      numExpertsPerToken: 2,
      moeIntermediateSize: 24,
      numSharedExperts: 1,
      firstKDenseReplace: 1,
      normTopkProb: false,
      routedScalingFactor: 1,
      scoringFunc: 'softmax',
      correctionBias: false,
    },
  });
  const a = analyzeConfig(config, { contextLength: 10 });
  const d = 64;
  const dense = 3 * d * 160;
  const moeLayer = d * 8 + 2 * 3 * d * 24 + 3 * d * 24;
  assert.equal(a.flopsPerToken.breakdown.ffn, 2 * (dense + 2 * moeLayer));
  const expertParams = 3 * d * 24;
  assert.equal(a.params.activePerToken, a.params.total - 2 * (8 - 2) * expertParams);
});

test('MLA FLOPs follow the decompressed form the model computes', () => {
  const mla = { qLoraRank: 12, kvLoraRank: 10, qkNopeHeadDim: 6, qkRopeHeadDim: 4, vHeadDim: 5 };
  const config = defineConfig({ vocabSize: 50, hiddenSize: 32, numLayers: 2, numAttentionHeads: 4, mla });
  const a = analyzeConfig(config, { contextLength: 7 });
  const d = 32;
  const h = 4;
  const projections = d * 12 + 12 * h * 10 + d * (10 + 4) + 10 * h * (6 + 5) + h * 5 * d;
  assert.equal(a.flopsPerToken.breakdown.attentionProjections, 2 * 2 * projections);
  assert.equal(a.flopsPerToken.breakdown.attentionScores, 2 * 2 * h * 7 * (10 + 5));
  // The projections are exactly the attention matmul weights (no biases here).
  const weights = parameterSpecs(config)
    .filter((s) => s.part === 'attention' && s.shape.length === 2)
    .reduce((n, s) => n + s.shape[0]! * s.shape[1]!, 0);
  assert.equal(2 * projections, weights);
});

test('architecture summary names the attention kind', () => {
  assert.equal(analyzeConfig(presetConfig('gpt2-124m')).architecture.attention, 'MHA');
  assert.equal(analyzeConfig(presetConfig('smollm2-135m')).architecture.attention, 'GQA');
  assert.equal(analyzeConfig(defineConfig({ ...plain, numKeyValueHeads: 1 })).architecture.attention, 'MQA');
  const openelm = analyzeConfig(presetConfig('openelm-270m')).architecture;
  assert.equal(openelm.attention, 'GQA');
  assert.ok(openelm.perLayerWidths);
  const mixed = defineConfig({
    ...plain,
    perLayer: { numAttentionHeads: [8, 8, 4], numKeyValueHeads: [8, 2, 1], intermediateSize: [64, 64, 64] },
  });
  assert.equal(analyzeConfig(mixed).architecture.attention, 'mixed');
});
