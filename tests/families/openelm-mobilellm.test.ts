/**
 * OpenELM and MobileLLM (remote-code families without transformers fixtures): configs written from
 * their published descriptions give the published per-layer plans, and tiny random checkpoints written
 * by hand in their Hugging Face tensor naming load into exactly the directly built model.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import '../../src/backend/cpu/index.js';
import { executionOrder, layerSpecs } from '../../src/config/layer-plan.js';
import { defineConfig } from '../../src/config/model-config.js';
import { familyFor } from '../../src/families/index.js';
import { loadHFModel, saveHFModel } from '../../src/io/hf.js';
import { type TensorToWrite, writeSafetensors } from '../../src/io/index.js';
import { parameterSpecs } from '../../src/model/params.js';
import { Transformer } from '../../src/model/transformer.js';
import { tensor } from '../../src/ops/index.js';
import { scratchDir } from './helpers.js';

/** apple/OpenELM-270M's config.json (architecture keys as published). */
const OPENELM_270M = {
  model_type: 'openelm',
  architectures: ['OpenELMForCausalLM'],
  model_dim: 1280,
  num_transformer_layers: 16,
  head_dim: 64,
  num_gqa_groups: 4,
  qkv_multipliers: [0.5, 1.0],
  ffn_multipliers: [0.5, 0.73, 0.97, 1.2, 1.43, 1.67, 1.9, 2.13, 2.37, 2.6, 2.83, 3.07, 3.3, 3.53, 3.77, 4.0],
  ffn_dim_divisor: 256,
  ffn_with_glu: true,
  activation_fn_name: 'swish',
  normalization_layer_name: 'rms_norm',
  normalize_qk_projections: true,
  share_input_output_layers: true,
  rope_freq_constant: 10000,
  rope_max_length: 4096,
  max_context_length: 2048,
  vocab_size: 32000,
  bos_token_id: 1,
  eos_token_id: 2,
};

test('OpenELM-270M: layer-wise scaling gives the published heads and FFN widths', () => {
  const config = familyFor('openelm').toConfig(OPENELM_270M);
  const layers = layerSpecs(config);
  const heads = layers.map((l) => l.numAttentionHeads);
  assert.deepEqual(heads, [...Array(5).fill(12), ...Array(7).fill(16), ...Array(4).fill(20)]);
  assert.deepEqual(
    layers.map((l) => l.numKeyValueHeads),
    heads.map((h) => h / 4),
  );
  assert.deepEqual(
    layers.map((l) => l.intermediateSize),
    [768, 1024, 1280, 1536, 1792, 2048, 2560, 2816, 3072, 3328, 3584, 3840, 4352, 4608, 4864, 5120],
  );
  assert.equal(config.tieWordEmbeddings, true);
  assert.equal(config.norm.eps, 1e-6);
  // The same plan from the [min, max] form, and per-layer lists that disagree are refused.
  const pairForm = familyFor('openelm').toConfig({ ...OPENELM_270M, ffn_multipliers: [0.5, 4.0] });
  assert.deepEqual(pairForm, config);
  assert.throws(
    () => familyFor('openelm').toConfig({ ...OPENELM_270M, num_query_heads: Array(16).fill(12) }),
    /num_query_heads.*disagrees/,
  );
});

test('MobileLLM-125M and -LS: deep-and-thin plan, shared head, immediate block repeat', () => {
  const published = {
    model_type: 'mobilellm',
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 32000,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    share_embedding: true,
    tie_word_embeddings: false,
    layer_sharing: false,
  };
  const plain = familyFor('mobilellm').toConfig(published);
  assert.equal(plain.tieWordEmbeddings, true);
  assert.equal(plain.headDim, 64);
  assert.deepEqual(
    executionOrder(plain),
    Array.from({ length: 30 }, (_, i) => i),
  );
  const total = parameterSpecs(plain).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(total, 124_635_456); // "125M"
  const shared = familyFor('mobilellm').toConfig({ ...published, layer_sharing: true });
  assert.deepEqual(executionOrder(shared).slice(0, 6), [0, 0, 1, 1, 2, 2]);
  assert.equal(executionOrder(shared).length, 60);
});

function tensorsOf(model: Transformer, names: Record<string, string[]>): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const [hf, paths] of Object.entries(names)) {
    const parts = paths.map((p) => model.params.get(p)!);
    const data = new Float32Array(parts.reduce((n, t) => n + t.size, 0));
    let offset = 0;
    for (const t of parts) {
      data.set(t.dataSync() as Float32Array, offset);
      offset += t.size;
    }
    const rows = parts.reduce((n, t) => n + t.shape[0]!, 0);
    out[hf] = { dtype: 'F32', shape: [rows, ...parts[0]!.shape.slice(1)], data };
  }
  return out;
}

function logitsOf(model: Transformer): Float32Array {
  return model.forward([3, 7, 1, 30, 12, 5, 9]).dataSync() as Float32Array;
}

test('a tiny OpenELM checkpoint in HF naming loads into the directly built model', async () => {
  const hf = {
    ...OPENELM_270M,
    model_dim: 32,
    num_transformer_layers: 4,
    head_dim: 8,
    num_gqa_groups: 2,
    qkv_multipliers: [0.5, 1.0],
    ffn_multipliers: [0.5, 4.0],
    ffn_dim_divisor: 16,
    vocab_size: 40,
    share_input_output_layers: false,
  };
  const config = defineConfig({
    vocabSize: 40,
    hiddenSize: 32,
    numLayers: 4,
    numAttentionHeads: 2,
    numKeyValueHeads: 1,
    headDim: 8,
    intermediateSize: 16, // the uniform fields describe layer 0
    layerScaling: { qkvMultipliers: [0.5, 1], ffnMultipliers: [0.5, 4], numGqaGroups: 2, ffnDimDivisor: 16 },
    qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    norm: { eps: 1e-6 },
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 2048,
    bosTokenId: 1,
    eosTokenIds: [2],
  });
  const model = Transformer.init(config, { seed: 3 });
  // Non-trivial norm weights, so a misplaced norm would show.
  for (const [path, t] of model.params) {
    if (!path.includes('norm')) continue;
    const values = Float32Array.from({ length: t.size }, (_, k) => 1 + 0.1 * Math.sin(k + path.length));
    model.params.set(path, tensor(values, t.shape).keep());
  }
  const heads = layerSpecs(config).map((l) => l.numAttentionHeads);
  assert.deepEqual(heads, [2, 4, 4, 4]); // make_divisible(32 · 0.67, 16) = 32: rounding down would lose > 10%
  const names: Record<string, string[]> = {
    'transformer.token_embeddings.weight': ['model.embed_tokens.weight'],
    'transformer.norm.weight': ['model.norm.weight'],
    'lm_head.weight': ['lm_head.weight'],
  };
  for (let i = 0; i < 4; i++) {
    const p = `model.layers.${i}`;
    const t = `transformer.layers.${i}`;
    names[`${t}.attn_norm.weight`] = [`${p}.input_layernorm.weight`];
    names[`${t}.attn.qkv_proj.weight`] = ['q', 'k', 'v'].map((x) => `${p}.self_attn.${x}_proj.weight`);
    names[`${t}.attn.q_norm.weight`] = [`${p}.self_attn.q_norm.weight`];
    names[`${t}.attn.k_norm.weight`] = [`${p}.self_attn.k_norm.weight`];
    names[`${t}.attn.out_proj.weight`] = [`${p}.self_attn.o_proj.weight`];
    names[`${t}.ffn_norm.weight`] = [`${p}.post_attention_layernorm.weight`];
    names[`${t}.ffn.proj_1.weight`] = [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`];
    names[`${t}.ffn.proj_2.weight`] = [`${p}.mlp.down_proj.weight`];
  }
  const dir = join(scratchDir(), 'openelm');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hf));
  writeSafetensors(join(dir, 'model.safetensors'), tensorsOf(model, names));
  const loaded = await loadHFModel(dir);
  assert.deepEqual(loaded.config, config);
  assert.deepEqual(logitsOf(loaded.model), logitsOf(model));
  // And back: saving writes the same tensors.
  const again = join(scratchDir(), 'openelm-saved');
  saveHFModel(again, loaded.model, { family: 'openelm' });
  assert.deepEqual(logitsOf((await loadHFModel(again)).model), logitsOf(model));
});

test('a tiny MobileLLM-LS checkpoint (llama names, shared embedding) loads into the directly built model', async () => {
  const hf = {
    model_type: 'mobilellm',
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 3,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    vocab_size: 40,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 64,
    share_embedding: true,
    tie_word_embeddings: false,
    layer_sharing: true,
  };
  const config = defineConfig({
    vocabSize: 40,
    hiddenSize: 24,
    intermediateSize: 40,
    numLayers: 3,
    numAttentionHeads: 6,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: true,
    layerSharing: { mode: 'immediate', repeats: 2 },
  });
  const model = Transformer.init(config, { seed: 5 });
  const names: Record<string, string[]> = {};
  for (const spec of parameterSpecs(config)) names[spec.path] = [spec.path];
  const tensors = tensorsOf(model, names);
  // MobileLLM's module keeps an lm_head it does not use when share_embedding is on.
  tensors['lm_head.weight'] = tensors['model.embed_tokens.weight']!;
  const dir = join(scratchDir(), 'mobilellm');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hf));
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const loaded = await loadHFModel(dir);
  assert.deepEqual(loaded.config, config);
  assert.deepEqual(logitsOf(loaded.model), logitsOf(model));
  // Running each block twice differs from running it once.
  const once = new Transformer(defineConfig({ ...config, layerSharing: null }), model.params);
  assert.notDeepEqual(logitsOf(once), logitsOf(model));
});
