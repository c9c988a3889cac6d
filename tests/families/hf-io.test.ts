/**
 * loadHFModel / saveHFModel on bad and unusual directories: every problem is named before any
 * compute (missing, mis-shaped or unexpected tensors, no config.json, truncated weights), half
 * precision and sharded checkpoints load, and saving replaces a directory as a whole.
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import '../../src/backend/cpu/index.js';
import { loadHFModel, saveHFModel } from '../../src/io/hf.js';
import {
  bf16ArrayToFloat32,
  float32ArrayToBf16,
  openSafetensors,
  type TensorToWrite,
  writeSafetensors,
} from '../../src/io/index.js';
import { FIXTURES, scratchDir } from './helpers.js';

const LLAMA = join(FIXTURES, 'llama');

/** A copy of a fixture directory whose tensors pass through `edit` (return null to drop one). */
function editedCopy(
  source: string,
  edit: (name: string, t: TensorToWrite) => TensorToWrite | null,
  extra: Record<string, TensorToWrite> = {},
): string {
  const dir = join(scratchDir(), 'model');
  mkdirSync(dir);
  copyFileSync(join(source, 'config.json'), join(dir, 'config.json'));
  const file = openSafetensors(join(source, 'model.safetensors'));
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of file.names()) {
    const raw = file.readRaw(name);
    const edited = edit(name, { dtype: raw.dtype, shape: raw.shape, data: raw.bytes });
    if (edited) tensors[name] = edited;
  }
  file.close();
  writeSafetensors(join(dir, 'model.safetensors'), { ...tensors, ...extra });
  return dir;
}

test('a directory without config.json, and one that does not exist', async () => {
  const empty = scratchDir();
  await assert.rejects(loadHFModel(empty), /has no config\.json: not a Hugging Face model directory/);
  await assert.rejects(loadHFModel(join(empty, 'nope')), /no such model directory/);
});

test('an unknown model_type lists the supported ones', async () => {
  const dir = scratchDir();
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'rwkv' }));
  await assert.rejects(
    loadHFModel(dir),
    /unsupported model_type 'rwkv'; slmkit supports: llama, mobilellm, qwen2/,
  );
});

test('a missing tensor is named, with the parameters it holds', async () => {
  const dir = editedCopy(LLAMA, (name, t) => (name === 'model.layers.1.mlp.up_proj.weight' ? null : t));
  await assert.rejects(
    loadHFModel(dir),
    /checkpoint tensor 'model\.layers\.1\.mlp\.up_proj\.weight' \[64, 48\] is missing/,
  );
  // A fused tensor names what it holds.
  const phi3 = editedCopy(join(FIXTURES, 'phi3'), (name, t) =>
    name.endsWith('0.self_attn.qkv_proj.weight') ? null : t,
  );
  await assert.rejects(
    loadHFModel(phi3),
    /'model\.layers\.0\.self_attn\.qkv_proj\.weight' \[84, 60\] is missing \(it holds model\.layers\.0\.self_attn\.q_proj\.weight, model\.layers\.0\.self_attn\.k_proj\.weight, model\.layers\.0\.self_attn\.v_proj\.weight\)/,
  );
});

test('a mis-shaped tensor is named with both shapes', async () => {
  const dir = editedCopy(LLAMA, (name, t) =>
    name === 'model.layers.0.self_attn.k_proj.weight'
      ? { dtype: 'F32', shape: [12, 48], data: new Float32Array(12 * 48) }
      : t,
  );
  await assert.rejects(
    loadHFModel(dir),
    /checkpoint tensor 'model\.layers\.0\.self_attn\.k_proj\.weight' has shape \[12, 48\], but config\.json implies \[24, 48\]/,
  );
});

test('config/weights mismatch: an untied config without lm_head, a tensor the config does not imply', async () => {
  const untied = editedCopy(LLAMA, (_, t) => t);
  const config = JSON.parse(readFileSync(join(untied, 'config.json'), 'utf8'));
  writeFileSync(join(untied, 'config.json'), JSON.stringify({ ...config, tie_word_embeddings: false }));
  await assert.rejects(loadHFModel(untied), /'lm_head\.weight' \[128, 48\] is missing/);
  const extra = editedCopy(LLAMA, (_, t) => t, {
    'model.layers.2.mlp.up_proj.weight': { dtype: 'F32', shape: [2], data: new Float32Array(2) },
  });
  await assert.rejects(
    loadHFModel(extra),
    /'model\.layers\.2\.mlp\.up_proj\.weight' is not part of this llama model/,
  );
  // Known buffers of old checkpoints are ignored.
  const buffers = editedCopy(LLAMA, (_, t) => t, {
    'model.layers.0.self_attn.rotary_emb.inv_freq': { dtype: 'F32', shape: [6], data: new Float32Array(6) },
  });
  await loadHFModel(buffers);
});

test('a truncated safetensors file gives a clear error', async () => {
  const dir = editedCopy(LLAMA, (_, t) => t);
  const path = join(dir, 'model.safetensors');
  truncateSync(path, statSync(path).size - 100);
  await assert.rejects(loadHFModel(dir), (err: Error) => {
    assert.match(err.message, /model\.safetensors/);
    assert.match(err.message, /(truncat|end|short|bytes)/i);
    return true;
  });
  truncateSync(path, 4);
  await assert.rejects(loadHFModel(dir), /model\.safetensors/);
});

test('GPT-2 files without the transformer. prefix (and with mask buffers) load like the prefixed ones', async () => {
  const gpt2 = join(FIXTURES, 'gpt2');
  const dir = editedCopy(gpt2, (_, t) => t);
  const file = openSafetensors(join(gpt2, 'model.safetensors'));
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of file.names()) {
    const raw = file.readRaw(name);
    tensors[name.replace(/^transformer\./, '')] = { dtype: raw.dtype, shape: raw.shape, data: raw.bytes };
  }
  file.close();
  // The causal-mask buffers old GPT-2 files carry are not parameters.
  tensors['h.0.attn.bias'] = { dtype: 'F32', shape: [1, 1, 4, 4], data: new Float32Array(16) };
  tensors['h.0.attn.masked_bias'] = { dtype: 'F32', shape: [], data: new Float32Array(1) };
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const a = (await loadHFModel(gpt2)).model.forward([5, 6, 7]).dataSync();
  const b = (await loadHFModel(dir)).model.forward([5, 6, 7]).dataSync();
  assert.deepEqual(b, a);
});

test('dtype float64 loads the same values in double precision', async () => {
  const single = await loadHFModel(LLAMA);
  const double = await loadHFModel(LLAMA, { dtype: 'float64' });
  assert.equal(double.model.dtype, 'float64');
  const a = single.model.forward([4, 9, 2]).dataSync();
  const b = double.model.forward([4, 9, 2]).dataSync();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5);
});

test('bfloat16 and float16 checkpoints are widened on load; saving in bfloat16 rounds once', async () => {
  const { model } = await loadHFModel(LLAMA);
  const out = join(scratchDir(), 'bf16');
  saveHFModel(out, model, { family: 'llama', dtype: 'bfloat16' });
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.torch_dtype, 'bfloat16');
  const file = openSafetensors(join(out, 'model.safetensors'));
  assert.equal(file.info('model.embed_tokens.weight').dtype, 'BF16');
  file.close();
  const loaded = await loadHFModel(out);
  for (const [path, t] of model.params) {
    const expected = bf16ArrayToFloat32(float32ArrayToBf16(t.dataSync() as Float32Array));
    assert.deepEqual(loaded.model.params.get(path)!.dataSync(), expected, path);
  }
  const f16 = join(scratchDir(), 'f16');
  saveHFModel(f16, model, { family: 'llama', dtype: 'float16' });
  const half = await loadHFModel(f16);
  const logits = half.model.forward([3, 4, 5]).dataSync();
  const full = model.forward([3, 4, 5]).dataSync();
  for (let i = 0; i < full.length; i++) assert.ok(Math.abs(logits[i]! - full[i]!) < 0.02);
});

test('sharded save (index + shards) loads back bit for bit', async () => {
  const { model, generationConfig } = await loadHFModel(LLAMA);
  const out = join(scratchDir(), 'sharded');
  saveHFModel(out, model, { family: 'llama', maxShardBytes: 40_000, generationConfig });
  const files = readdirSync(out).sort();
  assert.ok(files.includes('model.safetensors.index.json'), files.join());
  assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length > 1, files.join());
  const again = await loadHFModel(out);
  assert.deepEqual(again.generationConfig, generationConfig);
  for (const [path, t] of model.params)
    assert.deepEqual(again.model.params.get(path)!.dataSync(), t.dataSync(), path);
});

test('saving over a directory replaces the model as a whole and keeps its other files', async () => {
  const { model } = await loadHFModel(LLAMA);
  const parent = scratchDir();
  const out = join(parent, 'model');
  saveHFModel(out, model, { family: 'llama', maxShardBytes: 40_000 });
  writeFileSync(join(out, 'tokenizer.json'), '{"version": "1.0"}');
  saveHFModel(out, model, { family: 'llama' });
  const files = readdirSync(out).sort();
  assert.deepEqual(files, ['config.json', 'model.safetensors', 'tokenizer.json']);
  assert.deepEqual(readdirSync(parent), ['model']);
  assert.ok(existsSync(join(out, 'tokenizer.json')));
  // Without a family, the first one that can express the config is used.
  const chosen = saveHFModel(join(parent, 'auto'), model);
  assert.equal(chosen.modelType, 'llama');
});

test('config.json keeps floats as floats (transformers v5 strict configs refuse 1 for a float field)', async () => {
  const { model } = await loadHFModel(join(FIXTURES, 'deepseek_v2'));
  const out = join(scratchDir(), 'ds');
  saveHFModel(out, model, { family: 'deepseek_v2' });
  const text = readFileSync(join(out, 'config.json'), 'utf8');
  assert.match(text, /"routed_scaling_factor": 1\.0,/);
  assert.match(text, /"rope_theta": 10000\.0,/);
  assert.match(text, /"num_hidden_layers": 2,/);
  assert.deepEqual(JSON.parse(text).routed_scaling_factor, 1);
});
