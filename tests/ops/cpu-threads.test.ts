/**
 * The cpu backend's thread pool: linear layers split across workers give results bit-identical to one
 * thread (every output element is computed by the same loop), and small products stay on one thread.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { disableCpuThreads, enableCpuThreads } from '../../src/backend/cpu/threads.js';
import { linear, tensor } from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';

function values(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

test('linear layers on the cpu thread pool equal one thread bit for bit', async () => {
  const [rows, n, k] = [3, 777, 513]; // odd sizes: uneven row ranges and a k tail after the 4-wide loop
  const x = values(rows * k, 1);
  const w = values(n * k, 2);
  const single = linear(tensor(x, [rows, k]), tensor(w, [n, k])).dataSync();
  assert.equal(await enableCpuThreads(3), 3);
  try {
    const weight = tensor(w, [n, k]);
    assert.ok(weight.storage instanceof Float32Array && weight.storage.buffer instanceof SharedArrayBuffer);
    const out = linear(tensor(x, [rows, k]), weight);
    assert.ok(
      (out.storage as Float32Array).buffer instanceof SharedArrayBuffer,
      'the product ran on the pool (its output is shared)',
    );
    assert.deepEqual(Array.from(out.dataSync()), Array.from(single));
    // Small products stay on this thread (the hand-off would cost more than it saves).
    const small = linear(tensor(values(8, 3), [1, 8]), tensor(values(32, 4), [4, 8]));
    assert.ok(!((small.storage as Float32Array).buffer instanceof SharedArrayBuffer));
  } finally {
    await disableCpuThreads();
  }
  await assert.rejects(enableCpuThreads(0), /positive integer/);
});
