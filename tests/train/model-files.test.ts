/** Trained models as HF directories: the family's config.json and tensor layout, exact round trips. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { loadHFModel } from '../../src/io/hf.js';
import { openCheckpoint } from '../../src/io/sharded.js';
import { Transformer } from '../../src/model/transformer.js';
import { readModelDir, writeModelDir } from '../../src/train/model-files.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-model-files-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const base: ModelConfigInput = {
  vocabSize: 40,
  hiddenSize: 16,
  numLayers: 2,
  numAttentionHeads: 4,
  intermediateSize: 24,
  maxPositionEmbeddings: 16,
  eosTokenIds: [0],
};

async function roundTrip(name: string, input: ModelConfigInput) {
  const model = Transformer.init(defineConfig(input), { seed: 9 });
  const dir = join(scratch, name);
  await writeModelDir(dir, model);
  const back = readModelDir(dir);
  const ids = [[3, 1, 4, 1, 5, 9, 2, 6]];
  assert.deepEqual(Array.from(back.forward(ids).dataSync()), Array.from(model.forward(ids).dataSync()));
  return { dir, config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) };
}

test('a Llama-shaped model is saved as model_type llama and loads through the HF loader too', async () => {
  const { dir, config } = await roundTrip('llama', base);
  assert.equal(config.model_type, 'llama');
  assert.equal(config.torch_dtype, 'float32');
  const generation = JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8'));
  assert.equal(generation.eos_token_id, 0);
  const loaded = await loadHFModel(dir);
  assert.equal(loaded.family.modelType, 'llama');
  assert.equal(loaded.model.config.hiddenSize, 16);
});

test('a GPT-2-shaped model uses the gpt2 family’s names and fused layout', async () => {
  const { dir, config } = await roundTrip('gpt2', {
    ...base,
    positionEmbedding: 'learned',
    ffnType: 'standard',
    hiddenAct: 'gelu_tanh',
    norm: { type: 'layernorm', bias: true },
    attentionBias: true,
    mlpBias: true,
    intermediateSize: 64,
  });
  assert.equal(config.model_type, 'gpt2');
  const reader = openCheckpoint(dir);
  assert.ok(reader.has('transformer.h.0.attn.c_attn.weight') || reader.has('h.0.attn.c_attn.weight'));
  reader.close();
});

test('a config no family can express is saved with our names and model_type slmkit', async () => {
  const { config } = await roundTrip('custom', { ...base, augmentedShortcuts: { count: 1, reduction: 4 } });
  assert.equal(config.model_type, 'slmkit');
});
