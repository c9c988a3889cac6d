import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSafetensors } from '../../src/io/safetensors.js';
import type { TensorToWrite } from '../../src/io/safetensors-write.js';
import { openCheckpoint, writeCheckpoint } from '../../src/io/sharded.js';
import { scratchDir, tempFilesIn } from './scratch-dir.js';

const root = scratchDir();

/** A tiny model's tensors, 2 + 4 layers x ... bytes; values identify the tensor. */
function tinyModel(): Record<string, TensorToWrite> {
  const tensors: Record<string, TensorToWrite> = {
    'model.embed_tokens.weight': { dtype: 'F32', shape: [10, 4], data: new Float32Array(40).fill(1) }, // 160 B
  };
  for (let layer = 0; layer < 3; layer++) {
    const values = new Float32Array(16).map((_, i) => layer * 100 + i);
    tensors[`model.layers.${layer}.mlp.up_proj.weight`] = { dtype: 'BF16', shape: [4, 4], data: values }; // 32 B
    tensors[`model.layers.${layer}.input_layernorm.weight`] = {
      dtype: 'F32',
      shape: [4],
      data: values.slice(0, 4),
    }; // 16 B
  }
  tensors['lm_head.weight'] = { dtype: 'F16', shape: [10, 4], data: new Float32Array(40).fill(-2.5) }; // 80 B
  return tensors;
}

test('a checkpoint that fits one shard is a single model.safetensors with format pt', () => {
  const dir = join(root, 'single');
  const written = writeCheckpoint(dir, tinyModel(), { metadata: { step: '7' } });
  assert.deepEqual(written, ['model.safetensors']);
  assert.deepEqual(readdirSync(dir), ['model.safetensors']);
  const reader = openCheckpoint(dir);
  assert.deepEqual(reader.metadata, { format: 'pt', step: '7' });
  assert.deepEqual([...reader.readFloat32('lm_head.weight')], new Array(40).fill(-2.5));
  assert.deepEqual([...reader.readFloat32('model.layers.2.input_layernorm.weight')], [200, 201, 202, 203]);
  reader.close();
});

test('sharded round trip: file names, index contents, one reader over all shards', () => {
  const dir = join(root, 'sharded');
  const tensors = tinyModel();
  const written = writeCheckpoint(dir, tensors, { maxShardBytes: 170 });
  // Greedy in insertion order: [embed 160] [layer0 48, layer1 48, layer2 48] [lm_head 80].
  const shards = [
    'model-00001-of-00003.safetensors',
    'model-00002-of-00003.safetensors',
    'model-00003-of-00003.safetensors',
  ];
  assert.deepEqual(written, [...shards, 'model.safetensors.index.json']);
  assert.deepEqual(readdirSync(dir).sort(), [...shards, 'model.safetensors.index.json'].sort());
  assert.deepEqual(tempFilesIn(dir), []);

  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  assert.deepEqual(index.metadata, { total_size: 160 + 3 * 48 + 80 });
  const expectedMap: Record<string, string> = {
    'model.embed_tokens.weight': shards[0]!,
    'lm_head.weight': shards[2]!,
  };
  for (let layer = 0; layer < 3; layer++) {
    expectedMap[`model.layers.${layer}.mlp.up_proj.weight`] = shards[1]!;
    expectedMap[`model.layers.${layer}.input_layernorm.weight`] = shards[1]!;
  }
  assert.deepEqual(index.weight_map, expectedMap);
  assert.deepEqual(
    Object.keys(index.weight_map),
    Object.keys(expectedMap).sort(),
    'weight_map keys are sorted',
  );
  const second = openSafetensors(join(dir, shards[1]!));
  assert.deepEqual(second.metadata, { format: 'pt' });
  assert.equal(second.names().length, 6);
  second.close();

  const reader = openCheckpoint(dir);
  assert.deepEqual(reader.names().sort(), Object.keys(tensors).sort());
  assert.deepEqual(reader.metadata, { format: 'pt' });
  assert.deepEqual(reader.info('model.layers.1.mlp.up_proj.weight'), {
    dtype: 'BF16',
    shape: [4, 4],
    byteLength: 32,
  });
  assert.deepEqual(
    [...reader.readFloat32('model.layers.1.mlp.up_proj.weight')],
    [...new Float32Array(16).map((_, i) => 100 + i)],
  );
  assert.deepEqual([...reader.readFloat32('lm_head.weight')], new Array(40).fill(-2.5));
  assert.equal(reader.readRaw('model.embed_tokens.weight').bytes.byteLength, 160);
  assert.throws(() => reader.readRaw('nope'), /model\.safetensors\.index\.json: no tensor named 'nope'/);
  reader.close();
});

test('a tensor larger than maxShardBytes gets a shard of its own', () => {
  const dir = join(root, 'big-tensor');
  writeCheckpoint(dir, tinyModel(), { maxShardBytes: 100 });
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  const shardOfEmbed = index.weight_map['model.embed_tokens.weight'];
  const sharing = Object.values(index.weight_map).filter((f) => f === shardOfEmbed);
  assert.equal(sharing.length, 1);
  // [embed 160] [32, 16, 32, 16] [32, 16] [lm_head 80]
  assert.equal(shardOfEmbed, 'model-00001-of-00004.safetensors');
});

test('rewriting a checkpoint removes the stale files of the previous layout', () => {
  const dir = join(root, 'rewrite');
  writeCheckpoint(dir, tinyModel(), { maxShardBytes: 200 });
  writeFileSync(join(dir, 'config.json'), '{}');
  writeCheckpoint(dir, tinyModel());
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  writeCheckpoint(dir, tinyModel(), { maxShardBytes: 300 });
  assert.deepEqual(readdirSync(dir).sort(), [
    'config.json',
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
  ]);
  const reader = openCheckpoint(dir);
  assert.equal(reader.names().length, 8);
  reader.close();
});

function shardedDir(name: string): string {
  const dir = join(root, name);
  writeCheckpoint(dir, tinyModel(), { maxShardBytes: 170 });
  return dir;
}

test('index naming a missing shard', () => {
  const dir = shardedDir('missing-shard');
  rmSync(join(dir, 'model-00002-of-00003.safetensors'));
  assert.throws(
    () => openCheckpoint(dir),
    /model\.safetensors\.index\.json: shard 'model-00002-of-00003\.safetensors' \(holding 'model\.layers\.\d\..*'\) does not exist/,
  );
});

test('tensor listed in the index but absent from its shard', () => {
  const dir = shardedDir('absent-tensor');
  const indexPath = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  index.weight_map['lm_head.weight'] = 'model-00001-of-00003.safetensors';
  writeFileSync(indexPath, JSON.stringify(index));
  assert.throws(
    () => openCheckpoint(dir),
    /tensor 'lm_head\.weight' is listed in shard 'model-00001-of-00003\.safetensors', but that file does not contain it/,
  );
});

test('malformed index: bad JSON, no weight_map, a path outside the directory', () => {
  const dir = shardedDir('bad-index');
  const indexPath = join(dir, 'model.safetensors.index.json');
  writeFileSync(indexPath, '{"weight_map": ');
  assert.throws(() => openCheckpoint(dir), /model\.safetensors\.index\.json: cannot read the index/);
  writeFileSync(indexPath, '{"metadata": {}}');
  assert.throws(() => openCheckpoint(dir), /"weight_map" must be an object/);
  writeFileSync(indexPath, JSON.stringify({ weight_map: { w: '../elsewhere.safetensors' } }));
  assert.throws(
    () => openCheckpoint(dir),
    /tensor 'w' maps to "\.\.\/elsewhere\.safetensors", which is not a file name/,
  );
});

test('directory without a safetensors checkpoint', () => {
  const dir = join(root, 'empty');
  mkdirSync(dir);
  assert.throws(
    () => openCheckpoint(dir),
    /empty: no model\.safetensors or model\.safetensors\.index\.json in this directory$/,
  );
  writeFileSync(join(dir, 'adapter_model.safetensors'), '');
  assert.throws(() => openCheckpoint(dir), /in this directory \(it has adapter_model\.safetensors\)/);
  assert.throws(
    () => openCheckpoint(join(root, 'does-not-exist')),
    /does-not-exist: no such file or directory/,
  );
});

test('openCheckpoint also opens a single .safetensors file; model.safetensors wins over an index', () => {
  const dir = shardedDir('both');
  writeCheckpoint(join(root, 'single-src'), { x: { dtype: 'F32', shape: [1], data: new Float32Array([5]) } });
  const single = join(root, 'single-src', 'model.safetensors');
  const file = openCheckpoint(single);
  assert.deepEqual(file.names(), ['x']);
  file.close();
  writeFileSync(join(dir, 'model.safetensors'), readFileSync(single));
  assert.ok(existsSync(join(dir, 'model.safetensors.index.json')));
  const reader = openCheckpoint(dir);
  assert.deepEqual(reader.names(), ['x']);
  reader.close();
});
