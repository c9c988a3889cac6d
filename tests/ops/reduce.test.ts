/** sum / mean over every axis subset against naive loops; sumTo and broadcastTo; their errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64, flatIndex, i32, indices, normals, values } from '../helpers/tensors.js';

/** Σ over `axes` by visiting every input element once. */
function naiveSum(
  x: number[],
  shape: number[],
  axes: number[],
  keepDims: boolean,
): { shape: number[]; out: number[] } {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Array<number>(kept.reduce((a, b) => a * b, 1)).fill(0);
  for (const index of indices(shape)) {
    out[
      flatIndex(
        index.map((k, d) => (axes.includes(d) ? 0 : k)),
        kept,
      )
    ]! += x[flatIndex(index, shape)]!;
  }
  return { shape: keepDims ? kept : shape.filter((_, i) => !axes.includes(i)), out };
}

describe('sum and mean', () => {
  const shape = [2, 3, 4];
  const x = normals(new Rng(3), 24);
  const subsets = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];
  for (const axes of subsets) {
    for (const keepDims of [false, true]) {
      test(`sum over [${axes}] keepDims=${keepDims}`, () => {
        const expected = naiveSum(x, shape, axes, keepDims);
        const y = ops.sum(f64(x, shape), axes, keepDims);
        assert.deepEqual(y.shape, expected.shape);
        assertClose(values(y), expected.out, { atol: 1e-14, rtol: 1e-14 });
        const m = ops.mean(f64(x, shape), axes, keepDims);
        const count = axes.reduce((n, a) => n * shape[a]!, 1);
        assertClose(
          values(m),
          expected.out.map((v) => v / count),
          { atol: 1e-14, rtol: 1e-14 },
        );
      });
    }
  }

  test('hand-computed values, negative axes, repeated axes', () => {
    const t = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(values(ops.sum(t)), [21]);
    assert.deepEqual(ops.sum(t).shape, []);
    assert.deepEqual(values(ops.sum(t, -1)), [6, 15]);
    assert.deepEqual(values(ops.sum(t, [0, 0])), [5, 7, 9]);
    assert.deepEqual(values(ops.mean(t, 0)), [2.5, 3.5, 4.5]);
    assert.deepEqual(ops.mean(t, -1, true).shape, [2, 1]);
  });

  test('gradient of sum over a middle axis with keepDims', () => {
    gradcheck((t) => ops.mul(ops.sum(t, 1, true), t), [f64(normals(new Rng(4), 24), [2, 3, 4])]);
  });

  test('errors', () => {
    assert.throws(() => ops.sum(f64([1, 2]), 1), /axis 1 is out of range for a tensor of rank 1/);
    assert.throws(() => ops.sum(f64([1, 2]), -2), /axis -2 is out of range/);
    assert.throws(() => ops.sum(i32([1, 2])), /op 'sum' needs floating-point tensors/);
  });
});

describe('sum fuzz', () => {
  test('200 random shapes and axis sets (seeded) against the naive sum', () => {
    const rng = new Rng(77);
    for (let trial = 0; trial < 200; trial++) {
      const rank = 1 + rng.int(4);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(4));
      const axes = shape.flatMap((_, i) => (rng.uniform() < 0.5 ? [i] : []));
      const keepDims = rng.uniform() < 0.5;
      const x = normals(
        rng,
        shape.reduce((a, b) => a * b, 1),
      );
      const expected = naiveSum(x, shape, axes, keepDims);
      const y = ops.sum(f64(x, shape), axes, keepDims);
      assert.deepEqual(y.shape, expected.shape, `[${shape}] axes [${axes}]`);
      assertClose(values(y), expected.out, {
        atol: 1e-13,
        rtol: 1e-13,
        message: `[${shape}] axes [${axes}]`,
      });
    }
  });
});

describe('sumTo and broadcastTo', () => {
  test('sumTo sums leading and size-1 axes', () => {
    const x = normals(new Rng(6), 24);
    const expected = naiveSum(x, [2, 3, 4], [0, 2], true).out;
    const y = ops.sumTo(f64(x, [2, 3, 4]), [3, 1]);
    assert.deepEqual(y.shape, [3, 1]);
    assertClose(values(y), expected, { atol: 1e-14 });
    assert.deepEqual(values(ops.sumTo(f64([1, 2, 3, 4, 5, 6], [2, 3]), [1, 3])), [5, 7, 9]);
    assert.deepEqual(values(ops.sumTo(f64([1, 2, 3, 4, 5, 6], [2, 3]), [])), [21]);
  });

  test('broadcastTo repeats size-1 and missing axes', () => {
    const y = ops.broadcastTo(f64([1, 2], [2, 1]), [3, 2, 2]);
    assert.deepEqual(y.shape, [3, 2, 2]);
    assert.deepEqual(values(y), [1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2]);
  });

  test('gradient of broadcastTo is sumTo', () => {
    gradcheck((t) => ops.broadcastTo(t, [2, 3, 4]), [f64(normals(new Rng(7), 3), [3, 1])]);
  });

  test('a target the tensor cannot broadcast to is an error, not a different shape', () => {
    assert.throws(() => ops.broadcastTo(f64([1, 2, 3]), [1]), /cannot broadcast \[3\] to \[1\]/);
    assert.throws(
      () => ops.broadcastTo(f64([1, 2, 3, 4, 5, 6], [2, 3]), [3]),
      /cannot broadcast \[2, 3\] to \[3\]/,
    );
    assert.throws(
      () => ops.broadcastTo(f64([1, 2, 3, 4, 5, 6], [2, 3]), [4, 3]),
      /cannot broadcast \[2, 3\] to \[4, 3\]/,
    );
  });

  test('a shape the tensor does not broadcast from is an error in sumTo', () => {
    assert.throws(() => ops.sumTo(f64([1, 2, 3, 4, 5, 6], [2, 3]), [4]), /cannot sum \[2, 3\] to \[4\]/);
    assert.throws(
      () => ops.sumTo(f64([1, 2, 3, 4, 5, 6], [2, 3]), [2, 2]),
      /cannot sum \[2, 3\] to \[2, 2\]/,
    );
    assert.throws(() => ops.sumTo(f64([1, 2, 3]), [2, 3]), /cannot sum \[3\] to the larger shape \[2, 3\]/);
  });
});
