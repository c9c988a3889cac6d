/**
 * planSupport: the configs the planned decode step covers (every family fixture), and a named reason for each
 * config it leaves to the eager path.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { presetConfig } from '../../src/config/presets.js';
import { planSupport } from '../../src/generate/decode-support.js';
import { readHFConfig } from '../../src/io/hf.js';

const base: ModelConfigInput = { vocabSize: 64, hiddenSize: 32, numLayers: 2, numAttentionHeads: 4 };

test('Llama-style configs and presets are planned', () => {
  assert.equal(planSupport(defineConfig(base)), null);
  assert.equal(
    planSupport(defineConfig({ ...base, numKeyValueHeads: 1, attentionBias: true, mlpBias: true })),
    null,
  );
  assert.equal(
    planSupport(defineConfig({ ...base, rope: { partialRotaryFactor: 0.5, interleaved: true } })),
    null,
  );
  for (const name of [
    'smollm2-135m',
    'qwen2.5-0.5b',
    'llama3.2-1b',
    'mobilellm-125m',
    'mobilellm-ls-125m',
    'openelm-270m',
  ])
    assert.equal(planSupport(presetConfig(name)), null, name);
  // Every Hugging Face fixture (all families) is planned.
  for (const name of readdirSync('tests/fixtures/hf').filter((n) => !n.endsWith('.json')))
    assert.equal(planSupport(readHFConfig(`tests/fixtures/hf/${name}`).config), null, name);
});

test('every config the plan does not cover gets the reason it decodes eagerly', () => {
  assert.match(
    planSupport(defineConfig({ ...base, seriesActivation: { terms: 2 } })) ?? '',
    /series activation/,
  );
  assert.match(
    planSupport(defineConfig({ ...base, augmentedShortcuts: { count: 1, reduction: 4 } })) ?? '',
    /augmented shortcuts/,
  );
  assert.match(
    planSupport(defineConfig({ ...base, norm: { type: 'layernorm', eps: 1e-5 }, normPlacement: 'post' })) ??
      '',
    /post norms/,
  );
  assert.match(planSupport(defineConfig({ ...base, positionEmbedding: 'none' })) ?? '', /NoPE/);
  assert.match(planSupport(defineConfig({ ...base, hiddenAct: 'gelu' })) ?? '', /gated gelu/);
  assert.match(
    planSupport(defineConfig({ ...base, ffnType: 'standard', hiddenAct: 'relu2' })) ?? '',
    /squared-ReLU/,
  );
  assert.match(
    planSupport(
      defineConfig({ ...base, norm: { type: 'layernorm', eps: 1e-5 }, normPlacement: 'sandwich' }),
    ) ?? '',
    /sandwich/,
  );
  assert.equal(planSupport(defineConfig({ ...base, blockTopology: 'parallel' })), null);
  assert.equal(planSupport(defineConfig({ ...base, ffnType: 'standard', hiddenAct: 'gelu' })), null);
});
