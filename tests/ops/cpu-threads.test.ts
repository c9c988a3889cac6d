/**
 * The cpu backend's thread pool: linear layers split across workers give results bit-identical to one
 * thread (every output element is computed by the same loop), and small products stay on one thread.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { disableCpuThreads, enableCpuThreads } from '../../src/backend/cpu/threads.js';
import { linear, matmul, tensor } from '../../src/ops/index.js';
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

test('every matmul form on the pool equals one thread bit for bit (zeros in A, an infinity in B)', async () => {
  const [m, n, k] = [37, 301, 500]; // 5.6M multiply-adds (split although operands are copied), B 150k
  const forms = [
    { transA: false, transB: false },
    { transA: true, transB: false },
    { transA: false, transB: true },
    { transA: true, transB: true },
  ];
  const operands = (transA: boolean, transB: boolean, withInf: boolean) => {
    const a = values(m * k, 5);
    for (let i = 0; i < a.length; i += 7) a[i] = 0; // zero entries the accumulating forms may skip
    const b = values(n * k, 6);
    if (withInf) b[11] = Number.POSITIVE_INFINITY; // then they must not (0·∞ = NaN)
    return {
      a: tensor(a, transA ? [k, m] : [m, k]),
      b: tensor(b, transB ? [n, k] : [k, n]),
    };
  };
  const want = new Map<string, number[]>();
  for (const f of forms)
    for (const inf of [false, true]) {
      const { a, b } = operands(f.transA, f.transB, inf);
      want.set(`${f.transA}${f.transB}${inf}`, Array.from(matmul(a, b, f).dataSync()));
    }
  await enableCpuThreads(2);
  try {
    for (const f of forms)
      for (const inf of [false, true]) {
        const { a, b } = operands(f.transA, f.transB, inf);
        const out = matmul(a, b, f);
        assert.ok((out.storage as Float32Array).buffer instanceof SharedArrayBuffer, JSON.stringify(f));
        const got = Array.from(out.dataSync());
        const expected = want.get(`${f.transA}${f.transB}${inf}`)!;
        assert.equal(got.length, expected.length);
        for (let i = 0; i < got.length; i++) {
          if (!Object.is(got[i], expected[i]))
            assert.fail(
              `${JSON.stringify(f)} inf=${inf}: element ${i} is ${got[i]}, one thread gives ${expected[i]}`,
            );
        }
      }
  } finally {
    await disableCpuThreads();
  }
});
