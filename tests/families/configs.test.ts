/**
 * config.json -> ModelConfig on real published configs (parameter totals as the checkpoints report
 * them), both config generations (v4 rope_theta/rope_scaling vs v5 rope_parameters), class defaults
 * for absent keys, and the families' refusal of what they cannot express.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defineConfig, type ModelConfig } from '../../src/config/model-config.js';
import { familyFor, supportedModelTypes } from '../../src/families/index.js';
import { configToHF } from '../../src/io/hf-save.js';
import { parameterSpecs } from '../../src/model/params.js';
import { FIXTURES, fixtureEntries } from './helpers.js';

function readConfig(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function total(config: ModelConfig): number {
  return parameterSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

for (const [name, expected] of [
  ['smollm2-135m', 134_515_008],
  ['qwen2.5-0.5b', 494_032_768],
  ['llama3.2-1b', 1_235_814_400],
] as const) {
  test(`${name}: the published config.json gives ${expected.toLocaleString('en')} parameters`, () => {
    const hf = readConfig(join('tests/fixtures/configs', name, 'config.json'));
    const config = familyFor(String(hf.model_type)).toConfig(hf);
    assert.equal(total(config), expected);
  });
}

test('published configs: the fields that matter are read from the right keys', () => {
  const smol = familyFor('llama').toConfig(readConfig('tests/fixtures/configs/smollm2-135m/config.json'));
  assert.equal(smol.rope.theta, 100000);
  assert.equal(smol.numKeyValueHeads, 3);
  assert.equal(smol.tieWordEmbeddings, true);
  assert.equal(smol.norm.eps, 1e-5);
  assert.deepEqual(smol.eosTokenIds, [0]);
  const qwen = familyFor('qwen2').toConfig(readConfig('tests/fixtures/configs/qwen2.5-0.5b/config.json'));
  assert.deepEqual(qwen.attentionBias, { q: true, k: true, v: true, o: false });
  // use_sliding_window false: sliding_window 32768 is ignored.
  assert.equal(qwen.slidingWindow, null);
  assert.ok(qwen.layerTypes.every((t) => t === 'full'));
  const llama = familyFor('llama').toConfig(readConfig('tests/fixtures/configs/llama3.2-1b/config.json'));
  assert.deepEqual(llama.rope.scaling, {
    type: 'llama3',
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assert.equal(llama.rope.theta, 500000);
});

/** A v5 config (rope_parameters) rewritten with the v4 keys. */
function toV4(hf: Record<string, unknown>): Record<string, unknown> {
  const {
    rope_parameters: params,
    dtype,
    ...rest
  } = hf as { rope_parameters: Record<string, any>; dtype: string };
  const out: Record<string, unknown> = { ...rest, torch_dtype: dtype };
  if (!params) return out; // no RoPE (GPT-2)
  const flat = params.full_attention ?? params;
  const { rope_theta, rope_type, partial_rotary_factor, ...scaling } = flat;
  out.rope_theta = rope_theta;
  if (partial_rotary_factor !== undefined) out.partial_rotary_factor = partial_rotary_factor;
  // v4 wrote the scaling type under the legacy key `type` in many hub configs.
  out.rope_scaling = rope_type === 'default' ? null : { type: rope_type, ...scaling };
  if (params.sliding_attention) out.rope_local_base_freq = params.sliding_attention.rope_theta;
  return out;
}

for (const entry of fixtureEntries()) {
  test(`${entry.name}: the v4 spelling of its config.json gives the same ModelConfig`, () => {
    const hf = readConfig(join(FIXTURES, entry.name, 'config.json'));
    const family = familyFor(entry.model_type);
    assert.deepEqual(family.toConfig(toV4(hf)), family.toConfig(hf));
  });

  test(`${entry.name}: fromConfig -> toConfig is the identity`, () => {
    const family = familyFor(entry.model_type);
    const config = family.toConfig(readConfig(join(FIXTURES, entry.name, 'config.json')));
    assert.deepEqual(family.toConfig(JSON.parse(JSON.stringify(family.fromConfig(config)))), config);
  });
}

test('gpt_neox: legacy rotary_pct / rotary_emb_base keys', () => {
  const hf = readConfig(join(FIXTURES, 'gpt_neox', 'config.json'));
  const { rope_parameters: _, ...rest } = hf;
  const config = familyFor('gpt_neox').toConfig({ ...rest, rotary_pct: 0.25, rotary_emb_base: 10000 });
  assert.equal(config.rope.partialRotaryFactor, 0.25);
  assert.equal(config.rope.theta, 10000);
});

test('class defaults apply when keys are absent', () => {
  const base = {
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
  };
  const llama = familyFor('llama').toConfig({ ...base, model_type: 'llama' });
  assert.equal(llama.numKeyValueHeads, 4);
  assert.equal(llama.headDim, 8);
  assert.equal(llama.tieWordEmbeddings, false);
  assert.equal(llama.hiddenAct, 'silu');
  assert.equal(llama.rope.theta, 10000);
  const gemma = familyFor('gemma').toConfig({ ...base, model_type: 'gemma', hidden_act: 'gelu' });
  assert.equal(gemma.tieWordEmbeddings, true);
  assert.equal(gemma.headDim, 256);
  // Gemma checkpoints say hidden_act "gelu" but mean tanh-GELU (hidden_activation decides).
  assert.equal(gemma.hiddenAct, 'gelu_tanh');
  assert.equal(gemma.embeddingScale, Math.fround(Math.sqrt(32)));
  const qwen3 = familyFor('qwen3').toConfig({ ...base, model_type: 'qwen3' });
  assert.equal(qwen3.headDim, 128);
  const gemma2 = familyFor('gemma2').toConfig({ ...base, model_type: 'gemma2', head_dim: 8 });
  assert.deepEqual(gemma2.layerTypes, ['sliding', 'full']);
  assert.equal(gemma2.attnLogitSoftcap, 50);
  assert.equal(gemma2.finalLogitSoftcap, 30);
  const gemma3 = familyFor('gemma3_text').toConfig({
    ...base,
    num_hidden_layers: 6,
    model_type: 'gemma3_text',
    head_dim: 8,
  });
  assert.deepEqual(gemma3.layerTypes, ['sliding', 'sliding', 'sliding', 'sliding', 'sliding', 'full']);
  assert.equal(gemma3.rope.theta, 1_000_000);
  assert.equal(gemma3.ropeSliding?.theta, 10000);
  const gpt2 = familyFor('gpt2').toConfig({
    model_type: 'gpt2',
    vocab_size: 64,
    n_embd: 32,
    n_layer: 2,
    n_head: 4,
  });
  assert.equal(gpt2.intermediateSize, 128);
  assert.equal(gpt2.tieWordEmbeddings, true);
  assert.equal(gpt2.hiddenAct, 'gelu_tanh');
  assert.equal(gpt2.maxPositionEmbeddings, 1024);
  const neox = familyFor('gpt_neox').toConfig({ ...base, model_type: 'gpt_neox' });
  assert.equal(neox.rope.partialRotaryFactor, 0.25);
  assert.equal(neox.blockTopology, 'parallel_two_norms');
  assert.equal(neox.hiddenAct, 'gelu');
  const phi = familyFor('phi').toConfig({ ...base, model_type: 'phi' });
  assert.equal(phi.rope.partialRotaryFactor, 0.5);
  assert.equal(phi.lmHeadBias, true);
  const qwen2 = familyFor('qwen2').toConfig({
    ...base,
    model_type: 'qwen2',
    use_sliding_window: true,
    sliding_window: 8,
    max_window_layers: 1,
  });
  assert.deepEqual(qwen2.layerTypes, ['full', 'sliding']);
  assert.equal(qwen2.slidingWindow, 8);
});

test('rope scaling: `type` and `rope_type` keys, yarn, longrope and an unknown type', () => {
  const base = {
    model_type: 'llama',
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    max_position_embeddings: 256,
  };
  const llama = familyFor('llama');
  const linear = llama.toConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } });
  assert.deepEqual(linear.rope.scaling, { type: 'linear', factor: 2 });
  const dynamic = llama.toConfig({ ...base, rope_scaling: { rope_type: 'dynamic', factor: 3 } });
  assert.deepEqual(dynamic.rope.scaling, { type: 'dynamic', factor: 3 });
  const yarn = llama.toConfig({
    ...base,
    rope_scaling: { rope_type: 'yarn', original_max_position_embeddings: 64 },
  });
  assert.equal(yarn.rope.scaling?.factor, 4);
  assert.throws(
    () => llama.toConfig({ ...base, rope_scaling: { rope_type: 'mrope' } }),
    /rope_type.*'mrope' is not supported/,
  );
  const phi3 = familyFor('phi3').toConfig({
    ...base,
    model_type: 'phi3',
    original_max_position_embeddings: 64,
    rope_scaling: { type: 'longrope', short_factor: [1, 1, 1, 1], long_factor: [2, 2, 2, 2] },
  });
  assert.equal(phi3.rope.scaling?.type, 'longrope');
  assert.equal(phi3.rope.scaling?.originalMaxPositionEmbeddings, 64);
  assert.deepEqual(familyFor('phi3').toConfig(familyFor('phi3').fromConfig(phi3)), phi3);
});

test('unknown model_type lists the supported ones', () => {
  assert.throws(
    () => familyFor('mamba'),
    (err: Error) => {
      assert.match(err.message, /unsupported model_type 'mamba'/);
      for (const t of supportedModelTypes()) assert.ok(err.message.includes(t), t);
      return true;
    },
  );
  assert.equal(supportedModelTypes().length, 17);
});

test('a bad config.json value names the key and the family', () => {
  const llama = familyFor('llama');
  assert.throws(
    () => llama.toConfig({ model_type: 'llama', vocab_size: 10 }),
    /config\.json \(llama\): "hidden_size" is required/,
  );
  assert.throws(
    () => llama.toConfig({ model_type: 'llama', vocab_size: 10, hidden_size: '64' }),
    /"hidden_size" must be a number/,
  );
  assert.throws(
    () => familyFor('gpt2').toConfig({ model_type: 'gpt2', scale_attn_by_inverse_layer_idx: true }),
    /scale_attn_by_inverse_layer_idx/,
  );
  assert.throws(
    () =>
      llama.toConfig({
        model_type: 'llama',
        vocab_size: 10,
        hidden_size: 8,
        intermediate_size: 8,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        hidden_act: 'quick_gelu',
      }),
    /"hidden_act" names activation 'quick_gelu'/,
  );
});

test('saving refuses a family that cannot express the config', () => {
  const config = defineConfig({
    vocabSize: 32,
    hiddenSize: 16,
    numLayers: 2,
    numAttentionHeads: 4,
    blockTopology: 'parallel',
  });
  assert.throws(
    () => configToHF(config, familyFor('llama')),
    /llama cannot express this config: field 'blockTopology'/,
  );
  const gemmaLike = defineConfig({
    vocabSize: 32,
    hiddenSize: 16,
    numLayers: 2,
    numAttentionHeads: 4,
    embeddingScale: 3,
  });
  assert.throws(() => configToHF(gemmaLike, familyFor('gemma')), /gemma cannot express this config/);
});
