/**
 * Reductions over more columns than one dispatch dimension holds (65,535 workgroups of 32 columns): the
 * gradient of a tied embedding sums [B, vocab, hidden] over the batch, 3M+ columns for a small model.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layerNorm, sum, tensor } from '../../src/ops/index.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

if (backend) {
  test('column sums and norm weight gradients past 65,535 x 32 columns', async () => {
    const cols = 65_535 * 32 + 97;
    const data = new Float32Array(2 * cols);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    const x = tensor(data, [2, cols], { backend });
    const got = await sum(x, 0).data();
    for (const j of [0, 1, 65_535 * 32 - 1, 65_535 * 32, cols - 1]) {
      assert.ok(Math.abs(got[j]! - (data[j]! + data[cols + j]!)) < 1e-6, `column ${j}: ${got[j]}`);
    }
    // LayerNorm weight/bias gradients reduce over rows per column the same way.
    const w = tensor(new Float32Array(cols).fill(1), [cols], { backend });
    w.requiresGrad = true;
    const b = tensor(new Float32Array(cols), [cols], { backend });
    b.requiresGrad = true;
    const { backward } = await import('../../src/ops/index.js');
    backward(sum(layerNorm(x, w, b, 1e-5)));
    const db = await b.grad!.data();
    assert.ok(
      db.every((v) => v === 2),
      'bias gradient = rows for every column',
    );
  });
}
