import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';
import { backward, tensor } from '../../src/ops/index.js';

test('tiny llama forward/backward runs', () => {
  const config = defineConfig({
    vocabSize: 32,
    hiddenSize: 16,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 24,
  });
  const model = Transformer.init(config, { seed: 1, dtype: 'float64' }).requireGrad();
  const ids = [[1, 5, 7, 3, 9]];
  const targets = tensor(Int32Array.from([5, 7, 3, 9, 2]), [1, 5]);
  const loss = model.loss(ids, targets);
  backward(loss);
  const g = model.params.get('model.layers.0.self_attn.q_proj.weight')!.grad!;
  assert.equal(g.shape.join(','), '16,16');
  assert.ok(Math.abs(loss.itemSync() - Math.log(32)) < 0.5);
});

test('lastPositionOnly gives the last row of the full logits, with and without a cache', () => {
  const config = defineConfig({
    vocabSize: 40,
    hiddenSize: 16,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 24,
    logitScale: 0.5,
    finalLogitSoftcap: 10,
  });
  const model = Transformer.init(config, { seed: 3 });
  const ids = [[1, 5, 7, 3, 9, 11]];
  const full = model.forward(ids).dataSync();
  const last = model.forward(ids, { lastPositionOnly: true });
  assert.deepEqual(last.shape, [1, 1, 40]);
  assert.deepEqual(Array.from(last.dataSync()), Array.from(full.slice(5 * 40)));
  const cache = model.newCache(8);
  const cached = model.forward(ids, { cache, lastPositionOnly: true });
  assert.equal(cache.length, 6);
  assert.deepEqual(Array.from(cached.dataSync()), Array.from(full.slice(5 * 40)));
});
