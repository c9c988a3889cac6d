/**
 * Writes the directories that tools/families/check_saved_in_transformers.py loads with PyTorch
 * transformers: every fixture of tests/fixtures/hf loaded and saved again by slmkit (float32), a few
 * variants (bfloat16, sharded), and models slmkit initialised itself. Next to each model goes
 * `slmkit.safetensors` with the input ids and slmkit's logits for them.
 *
 *   node dist/tools/families/save-for-transformers.js <out-dir>
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import '../../src/backend/cpu/index.js';
import { defineConfig } from '../../src/config/model-config.js';
import { loadHFModel, saveHFModel } from '../../src/io/hf.js';
import { openSafetensors, writeSafetensors } from '../../src/io/index.js';
import { Transformer } from '../../src/model/transformer.js';

const FIXTURES = 'tests/fixtures/hf';
const out = process.argv[2];
if (!out) throw new Error('usage: save-for-transformers.js <out-dir>');
mkdirSync(out, { recursive: true });

async function writeReference(dir: string, ids: number[]): Promise<void> {
  const { model } = await loadHFModel(dir);
  const logits = model.forward(ids).dataSync() as Float32Array;
  writeSafetensors(join(dir, 'slmkit.safetensors'), {
    input_ids: { dtype: 'I32', shape: [ids.length], data: Int32Array.from(ids) },
    logits: { dtype: 'F32', shape: [ids.length, model.config.vocabSize], data: logits },
  });
}

for (const name of readdirSync(FIXTURES).sort()) {
  if (name.endsWith('.json')) continue;
  const source = join(FIXTURES, name);
  const ref = openSafetensors(join(source, 'reference.safetensors'));
  const ids = Array.from(ref.readInt32('input_ids'));
  ref.close();
  const loaded = await loadHFModel(source);
  const variants: [string, Parameters<typeof saveHFModel>[2]][] = [[name, {}]];
  if (name === 'llama' || name === 'gemma3_text') variants.push([`${name}-bf16`, { dtype: 'bfloat16' }]);
  if (name === 'qwen2') variants.push([`${name}-sharded`, { maxShardBytes: 30_000 }]);
  for (const [dirName, options] of variants) {
    const dir = join(out, dirName);
    saveHFModel(dir, loaded.model, {
      family: loaded.family,
      generationConfig: loaded.generationConfig,
      ...options,
    });
    await writeReference(dir, ids);
  }
}

// Models that never came from transformers: random weights from slmkit's own init.
const ids = [5, 17, 2, 33, 8, 21, 40, 3];
const own = {
  'slmkit-llama-gqa': defineConfig({
    vocabSize: 64,
    hiddenSize: 48,
    numLayers: 3,
    numAttentionHeads: 6,
    numKeyValueHeads: 2,
    intermediateSize: 96,
    tieWordEmbeddings: false,
    rope: { theta: 500000, scaling: { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 16 } },
  }),
  'slmkit-qwen3-like': defineConfig({
    vocabSize: 64,
    hiddenSize: 32,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 16,
    intermediateSize: 64,
    qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
  }),
};
for (const [name, config] of Object.entries(own)) {
  const model = Transformer.init(config, { seed: 7 });
  const dir = join(out, name);
  const family = saveHFModel(dir, model);
  await writeReference(dir, ids);
  console.log(`${name}: saved as ${family.modelType}`);
}
console.log(`wrote ${readdirSync(out).length} directories to ${out}`);
