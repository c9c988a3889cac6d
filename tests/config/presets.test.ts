/**
 * Presets are the real models' shapes: parameter totals equal what Transformer.init allocates (small
 * shapes) or the sum over parameterSpecs (large ones), and match the published counts; OpenELM's
 * per-layer plan is reproduced.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeConfig } from '../../src/config/analyze.js';
import { layerSpecs } from '../../src/config/layer-plan.js';
import { modelConfigFromHF } from '../../src/config/load.js';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { isPreset, presetConfig, presetNames, presets } from '../../src/config/presets.js';
import { parameterSpecs } from '../../src/model/params.js';
import { Transformer } from '../../src/model/transformer.js';

const specTotal = (input: Parameters<typeof parameterSpecs>[0]) =>
  parameterSpecs(input).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);

function allocatedElements(model: Transformer): number {
  return model.parameters().reduce((n, t) => n + t.size, 0);
}

test('preset list has the promised names and each builds a validated config', () => {
  for (const name of [
    'tiny',
    'smollm2-135m',
    'qwen2.5-0.5b',
    'llama3.2-1b',
    'gpt2-124m',
    'openelm-270m',
    'mobilellm-125m',
    'deepseek-v2-lite-like',
  ]) {
    assert.ok(isPreset(name), name);
  }
  for (const name of presetNames()) {
    const a = presetConfig(name);
    const b = presetConfig(name);
    assert.notEqual(a, b, 'each call returns a fresh config');
    assert.deepEqual(a, b);
  }
  assert.throws(() => presetConfig('smollm3'), /unknown preset 'smollm3'.*smollm2-135m/);
  assert.equal(isPreset('constructor'), false);
});

test('the tiny preset: analyze total = elements Transformer.init allocates', () => {
  const config = presetConfig('tiny');
  const model = Transformer.init(config, { seed: 0 });
  const a = analyzeConfig(config);
  assert.equal(a.params.total, allocatedElements(model));
  assert.equal(a.params.total, model.numParameters());
  model.dispose();
});

/** The same architecture with every dimension cut down, so it can be allocated in a test. */
function shrink(input: ModelConfigInput): ModelConfigInput {
  const small: ModelConfigInput = {
    ...structuredClone(input),
    vocabSize: 37,
    hiddenSize: 24,
    headDim: 4,
    intermediateSize: 20,
    numLayers: Math.min(input.numLayers, 3),
    maxPositionEmbeddings: 16,
    bosTokenId: null,
    eosTokenIds: [],
  };
  if (small.mla)
    small.mla = { qLoraRank: null, kvLoraRank: 6, qkNopeHeadDim: 4, qkRopeHeadDim: 2, vHeadDim: 3 };
  if (small.moe) small.moe = { ...small.moe, numExperts: 4, numExpertsPerToken: 2, moeIntermediateSize: 6 };
  if (small.layerScaling) {
    small.hiddenSize = 32;
    small.numLayers = 4;
    small.layerScaling = { ...small.layerScaling, ffnDimDivisor: 8 };
  }
  return small;
}

for (const name of presetNames()) {
  test(`${name}: parts add up; a shrunk copy allocates exactly what analyze counts`, () => {
    const config = presetConfig(name);
    const a = analyzeConfig(config);
    const p = a.params;
    assert.equal(p.total, specTotal(config));
    assert.equal(p.embedding + p.attention + p.ffn + p.norm + p.head, p.total);
    assert.equal(p.nonEmbedding, p.total - p.embedding);
    const layerSum = p.perLayer.reduce((n, l) => n + l.total, 0);
    const outside = parameterSpecs(config)
      .filter((s) => !s.path.startsWith('model.layers.'))
      .reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);
    assert.equal(layerSum + outside, p.total);
    assert.equal(a.weightBytes.f32, 4 * p.total);
    assert.equal(a.weightBytes.bf16, 2 * p.total);
    assert.equal(a.trainingStateBytes.f32, 16 * p.total);

    const small = defineConfig(shrink(presets[name]!.input));
    const model = Transformer.init(small, { seed: 1 });
    assert.equal(analyzeConfig(small).params.total, allocatedElements(model));
    model.dispose();
  });
}

test('parameter totals match the published counts of the real checkpoints', () => {
  const published: Record<string, number> = {
    'smollm2-135m': 134_515_008,
    'qwen2.5-0.5b': 494_032_768,
    'llama3.2-1b': 1_235_814_400,
    'gpt2-124m': 124_439_808,
  };
  for (const [name, total] of Object.entries(published)) {
    assert.equal(analyzeConfig(presetConfig(name)).params.total, total, name);
  }
});

test('gpt2-124m: learned positions, LayerNorm with bias, standard GELU-tanh FFN, biases, tied', () => {
  const c = presetConfig('gpt2-124m');
  assert.equal(c.positionEmbedding, 'learned');
  assert.equal(c.ffnType, 'standard');
  assert.equal(c.hiddenAct, 'gelu_tanh');
  assert.deepEqual(c.norm, { type: 'layernorm', eps: 1e-5, plusOne: false, bias: true, affine: true });
  const paths = new Set(parameterSpecs(c).map((s) => s.path));
  for (const path of [
    'model.embed_positions.weight',
    'model.layers.0.self_attn.q_proj.bias',
    'model.layers.0.self_attn.o_proj.bias',
    'model.layers.0.mlp.up_proj.bias',
    'model.layers.11.post_attention_layernorm.bias',
    'model.norm.bias',
  ]) {
    assert.ok(paths.has(path), path);
  }
  assert.ok(!paths.has('lm_head.weight'));
  assert.ok(!paths.has('model.layers.0.mlp.gate_proj.weight'));
});

test('qwen2.5-0.5b has q/k/v biases and no o bias; llama3.2-1b has llama3 RoPE scaling', () => {
  const q = presetConfig('qwen2.5-0.5b');
  assert.deepEqual(q.attentionBias, { q: true, k: true, v: true, o: false });
  assert.equal(q.rope.theta, 1e6);
  const l = presetConfig('llama3.2-1b');
  assert.equal(l.rope.scaling?.type, 'llama3');
  assert.equal(l.rope.scaling?.factor, 32);
  assert.equal(l.tieWordEmbeddings, true);
});

test('openelm-270m reproduces the per-layer heads and FFN widths of the released config', () => {
  const layers = layerSpecs(presetConfig('openelm-270m'));
  const heads = [...Array(5).fill(12), ...Array(7).fill(16), ...Array(4).fill(20)];
  const kv = [...Array(5).fill(3), ...Array(7).fill(4), ...Array(4).fill(5)];
  const ffn = [768, 1024, 1280, 1536, 1792, 2048, 2560, 2816, 3072, 3328, 3584, 3840, 4352, 4608, 4864, 5120];
  assert.deepEqual(
    layers.map((l) => l.numAttentionHeads),
    heads,
  );
  assert.deepEqual(
    layers.map((l) => l.numKeyValueHeads),
    kv,
  );
  assert.deepEqual(
    layers.map((l) => l.intermediateSize),
    ffn,
  );
  // analyze reports the same plan per layer, and widths shape the per-layer parameter counts.
  const a = analyzeConfig(presetConfig('openelm-270m'));
  assert.deepEqual(
    a.params.perLayer.map((l) => [l.numAttentionHeads, l.numKeyValueHeads, l.intermediateSize]),
    heads.map((h, i) => [h, kv[i], ffn[i]]),
  );
  const d = 1280;
  const hd = 64;
  a.params.perLayer.forEach((l, i) => {
    assert.equal(l.ffn, 3 * d * ffn[i]!);
    assert.equal(l.attention, 2 * d * heads[i]! * hd + 2 * d * kv[i]! * hd); // q, k, v, o
    assert.equal(l.norm, 2 * d + 2 * hd); // two block norms, q/k RMSNorm over head_dim
  });
});

test('mobilellm-ls-125m shares blocks: same parameters as mobilellm-125m, twice the virtual layers', () => {
  const base = analyzeConfig(presetConfig('mobilellm-125m'));
  const shared = analyzeConfig(presetConfig('mobilellm-ls-125m'));
  assert.equal(shared.params.total, base.params.total);
  assert.equal(shared.kvCache.virtualLayers, 60);
  assert.equal(shared.kvCacheBytesPerToken.bf16, 2 * base.kvCacheBytesPerToken.bf16);
  assert.equal(shared.flopsPerToken.breakdown.ffn, 2 * base.flopsPerToken.breakdown.ffn);
});

/** config.json of the real checkpoints (as published on the Hugging Face hub; keys the adapters read). */
const hfConfigs: Record<string, Record<string, unknown>> = {
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'],
    bos_token_id: 151643,
    eos_token_id: 151643,
    hidden_act: 'silu',
    hidden_size: 896,
    initializer_range: 0.02,
    intermediate_size: 4864,
    max_position_embeddings: 32768,
    max_window_layers: 24,
    model_type: 'qwen2',
    num_attention_heads: 14,
    num_hidden_layers: 24,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: true,
    use_sliding_window: false,
    vocab_size: 151936,
  },
  'llama3.2-1b': {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    bos_token_id: 128000,
    eos_token_id: 128001,
    head_dim: 64,
    hidden_act: 'silu',
    hidden_size: 2048,
    initializer_range: 0.02,
    intermediate_size: 8192,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: 32,
    num_hidden_layers: 16,
    num_key_value_heads: 8,
    rms_norm_eps: 1e-5,
    rope_scaling: {
      factor: 32.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 8192,
      rope_type: 'llama3',
    },
    rope_theta: 500000.0,
    tie_word_embeddings: true,
    vocab_size: 128256,
  },
};

for (const [name, hf] of Object.entries(hfConfigs)) {
  test(`${name}: the preset equals what the family adapter reads from the real config.json`, () => {
    const fromHF = modelConfigFromHF(hf);
    const preset = presetConfig(name);
    for (const key of [
      'vocabSize',
      'hiddenSize',
      'numLayers',
      'numAttentionHeads',
      'numKeyValueHeads',
      'headDim',
      'intermediateSize',
      'maxPositionEmbeddings',
      'attentionBias',
      'rope',
      'norm',
      'tieWordEmbeddings',
      'ffnType',
      'hiddenAct',
      'bosTokenId',
      'eosTokenIds',
    ] as const) {
      assert.deepEqual(preset[key], fromHF[key], key);
    }
    assert.deepEqual(analyzeConfig(preset), analyzeConfig(fromHF));
  });
}
