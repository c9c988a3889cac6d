/** matmul (batched, broadcast, all transpose combinations) and linear against naive triple loops. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64, flatIndex, i32, indices, normals, values } from '../helpers/tensors.js';

/**
 * C[batch, i, j] = Σ_p A(i, p) B(p, j), reading A and B through their transposes and broadcast batch axes
 * element by element (no shared code with the kernel).
 */
function naiveMatmul(
  a: number[],
  aShape: number[],
  b: number[],
  bShape: number[],
  transA: boolean,
  transB: boolean,
): { shape: number[]; out: number[] } {
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const n = transB ? br : bc;
  const rank = Math.max(aBatch.length, bBatch.length);
  const pa = [...new Array<number>(rank - aBatch.length).fill(1), ...aBatch];
  const pb = [...new Array<number>(rank - bBatch.length).fill(1), ...bBatch];
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const out: number[] = [];
  for (const index of indices([...batch, m, n])) {
    const bi = index.slice(0, rank);
    const [i, j] = index.slice(rank) as [number, number];
    const aIndex = bi.map((x, d) => (pa[d] === 1 ? 0 : x)).slice(rank - aBatch.length);
    const bIndex = bi.map((x, d) => (pb[d] === 1 ? 0 : x)).slice(rank - bBatch.length);
    let s = 0;
    for (let p = 0; p < k; p++) {
      const av = a[flatIndex([...aIndex, ...(transA ? [p, i] : [i, p])], aShape)]!;
      const bv = b[flatIndex([...bIndex, ...(transB ? [j, p] : [p, j])], bShape)]!;
      s += av * bv;
    }
    out.push(s);
  }
  return { shape: [...batch, m, n], out };
}

const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

describe('matmul', () => {
  test('hand-computed 2×2 and 2×3 @ 3×1', () => {
    assert.deepEqual(
      values(ops.matmul(f64([1, 2, 3, 4], [2, 2]), f64([5, 6, 7, 8], [2, 2]))),
      [19, 22, 43, 50],
    );
    assert.deepEqual(values(ops.matmul(f64([1, 2, 3, 4, 5, 6], [2, 3]), f64([1, 0, -1], [3, 1]))), [-2, -2]);
    const at = ops.matmul(f64([1, 3, 2, 4], [2, 2]), f64([5, 6, 7, 8], [2, 2]), { transA: true });
    assert.deepEqual(values(at), [19, 22, 43, 50]);
  });

  // [a shape (untransposed), b shape (untransposed)]: plain, batched, broadcast batches, rank mismatch.
  const layouts: [number[], number[]][] = [
    [
      [3, 4],
      [4, 5],
    ],
    [
      [2, 3, 4],
      [2, 4, 5],
    ],
    [
      [2, 1, 3, 4],
      [3, 4, 2],
    ],
    [
      [2, 3, 4],
      [4, 5],
    ],
    [
      [3, 4],
      [2, 2, 4, 5],
    ],
    [
      [1, 2, 1, 3],
      [2, 1, 3, 2],
    ],
  ];
  const swapLast = (s: number[]) => [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];
  for (const [aLogical, bLogical] of layouts) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const aShape = transA ? swapLast(aLogical) : aLogical;
        const bShape = transB ? swapLast(bLogical) : bLogical;
        test(`[${aShape}]${transA ? 'ᵀ' : ''} @ [${bShape}]${transB ? 'ᵀ' : ''}`, () => {
          const rng = new Rng(size(aShape) + size(bShape));
          const a = normals(rng, size(aShape));
          const b = normals(rng, size(bShape));
          const expected = naiveMatmul(a, aShape, b, bShape, transA, transB);
          const c = ops.matmul(f64(a, aShape), f64(b, bShape), { transA, transB });
          assert.deepEqual(c.shape, expected.shape);
          assertClose(values(c), expected.out, { atol: 1e-13, rtol: 1e-13, shape: expected.shape });
          const c32 = ops.matmul(ops.tensor(a, aShape), ops.tensor(b, bShape), { transA, transB });
          assertClose(values(c32), expected.out, { atol: 1e-5, rtol: 1e-5, message: 'float32' });
        });
      }
    }
  }

  test('gradients with broadcast batch axes and both transposes', () => {
    const rng = new Rng(11);
    // a [2, K=3, M=2]ᵀ, b [2, 1, N=4, K=3]ᵀ: batch [2] with [2, 1] -> [2, 2]
    gradcheck(
      (a, b) => ops.matmul(a, b, { transA: true, transB: true }),
      [f64(normals(rng, 12), [2, 3, 2]), f64(normals(rng, 24), [2, 1, 4, 3])],
    );
  });

  test('zeros in A do not hide NaN or infinity in B (every transpose combination)', () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = f64([0, 1], transA ? [2, 1] : [1, 2]);
        for (const bad of [Number.POSITIVE_INFINITY, Number.NaN]) {
          const c = ops.matmul(a, f64([bad, 2], transB ? [1, 2] : [2, 1]), { transA, transB });
          assert.ok(
            Number.isNaN(values(c)[0]!),
            `transA=${transA} transB=${transB}: 0·${bad} + 1·2 gave ${values(c)[0]}`,
          );
        }
      }
    }
  });

  test('errors', () => {
    const a = f64(normals(new Rng(1), 6), [2, 3]);
    assert.throws(
      () => ops.matmul(a, f64([1, 2, 3, 4], [2, 2])),
      /matmul inner dimensions differ: \[2, 3\] @ \[2, 2\]/,
    );
    assert.throws(
      () => ops.matmul(a, a, { transB: false }),
      /matmul inner dimensions differ: \[2, 3\] @ \[2, 3\]/,
    );
    assert.throws(() => ops.matmul(a, f64([1, 2, 3])), /matmul needs rank >= 2, got \[2, 3\] and \[3\]/);
    assert.throws(
      () => ops.matmul(f64(normals(new Rng(1), 12), [2, 2, 3]), f64(normals(new Rng(1), 18), [3, 3, 2])),
      /shapes \[2\] and \[3\] cannot be broadcast together/,
    );
    assert.throws(
      () => ops.matmul(i32([1, 2, 3, 4], [2, 2]), i32([1, 2, 3, 4], [2, 2])),
      /op 'matmul' needs floating-point/,
    );
  });
});

describe('linear', () => {
  test('y = x Wᵀ + b with W [out, in]', () => {
    const rng = new Rng(2);
    const x = normals(rng, 2 * 3 * 4);
    const w = normals(rng, 5 * 4);
    const b = normals(rng, 5);
    const expected: number[] = [];
    for (let r = 0; r < 6; r++) {
      for (let o = 0; o < 5; o++) {
        let s = b[o]!;
        for (let i = 0; i < 4; i++) s += x[r * 4 + i]! * w[o * 4 + i]!;
        expected.push(s);
      }
    }
    const y = ops.linear(f64(x, [2, 3, 4]), f64(w, [5, 4]), f64(b, [5]));
    assert.deepEqual(y.shape, [2, 3, 5]);
    assertClose(values(y), expected, { atol: 1e-13, rtol: 1e-13 });
    const noBias = ops.linear(f64(x, [2, 3, 4]), f64(w, [5, 4]), null);
    assertClose(
      values(noBias),
      expected.map((v, i) => v - b[i % 5]!),
      { atol: 1e-13, rtol: 1e-13 },
    );
  });

  test('gradient of weight and bias', () => {
    const rng = new Rng(3);
    gradcheck(
      (x, w, b) => ops.linear(x, w, b),
      [f64(normals(rng, 6), [3, 2]), f64(normals(rng, 8), [4, 2]), f64(normals(rng, 4))],
    );
  });

  test('a weight of the wrong input width is an error', () => {
    assert.throws(
      () => ops.linear(f64([1, 2, 3], [1, 3]), f64([1, 2, 3, 4], [2, 2])),
      /matmul inner dimensions differ/,
    );
  });
});
