/** Training-time dropout: the op's mask statistics and determinism, and the model's gradient with it on. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';
import { backward, dropout, ones, sum, tensor } from '../../src/ops/index.js';
import { scope } from '../../src/tensor/tensor.js';
import { checkModelGradients } from '../helpers/model-gradcheck.js';

test('dropout zeroes about p of the elements and scales the rest by 1/(1 − p), reproducibly per seed', () => {
  const x = ones([200_000]);
  const y = dropout(x, 0.3, 7).dataSync();
  const dropped = y.filter((v) => v === 0).length / y.length;
  assert.ok(Math.abs(dropped - 0.3) < 0.005, `dropped ${dropped}`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
  assert.deepEqual(dropout(x, 0.3, 7).dataSync(), y);
  assert.notDeepEqual(dropout(x, 0.3, 8).dataSync(), y);
  assert.equal(dropout(x, 0, 7), x, 'p = 0 is the identity');
  assert.throws(() => dropout(x, 1, 0), /\[0, 1\)/);
});

test('the gradient of dropout is its mask', () => {
  const x = tensor(
    Float64Array.from({ length: 64 }, (_, i) => (i + 0.5) / 10 - 3),
    [64],
  );
  x.requiresGrad = true;
  const y = scope(() => {
    const out = dropout(x, 0.5, 11);
    backward(sum(out));
    return out.dataSync();
  });
  const grad = x.grad!.dataSync();
  // No input is 0, so a zero output means a dropped element (gradient 0); kept ones have gradient 1/(1 − p) = 2.
  for (let i = 0; i < 64; i++) assert.equal(grad[i], y[i] === 0 ? 0 : 2);
});

test('a model with dropout: deterministic per seed, different from the eval pass, and its gradient checks', () => {
  const config = defineConfig({
    vocabSize: 19,
    hiddenSize: 16,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 20,
  });
  const model = Transformer.init(config, { seed: 1 });
  const ids = [[1, 2, 3, 4, 5, 6]];
  const targets = tensor(Int32Array.from([2, 3, 4, 5, 6, 7]), [1, 6]);
  const loss = (options = {}) => scope(() => model.loss(ids, targets, -100, options).itemSync());
  const plain = loss();
  assert.equal(loss({ dropout: { p: 0, seed: 5 } }), plain);
  const a = loss({ dropout: { p: 0.2, seed: 5 } });
  assert.notEqual(a, plain);
  assert.equal(loss({ dropout: { p: 0.2, seed: 5 } }), a);
  assert.notEqual(loss({ dropout: { p: 0.2, seed: 6 } }), a);
  const { checked } = checkModelGradients(config, { lossOptions: { dropout: { p: 0.2, seed: 9 } } });
  assert.ok(checked >= 8);
});
