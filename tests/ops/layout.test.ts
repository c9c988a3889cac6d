/** reshape, permute/transpose, slice, concat, split: values against index arithmetic, and their errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { f64, flatIndex, i32, indices, normals, values } from '../helpers/tensors.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('reshape', () => {
  test('keeps row-major order and infers one -1', () => {
    const x = f64(range(24), [2, 3, 4]);
    const y = ops.reshape(x, [4, -1]);
    assert.deepEqual(y.shape, [4, 6]);
    assert.deepEqual(values(y), range(24));
    assert.deepEqual(ops.reshape(x, [-1]).shape, [24]);
    assert.deepEqual(ops.reshape(f64([7]), []).shape, []);
  });

  test('is a view: it shares storage and outlives the disposal of its source', () => {
    const x = f64(range(6), [2, 3]);
    const y = ops.reshape(x, [3, 2]);
    assert.equal(y.storage, x.storage);
    x.dispose();
    assert.deepEqual(values(y), range(6));
    assert.throws(() => x.dataSync(), /tensor \[2, 3\] float64 was used after it was disposed/);
  });

  test('int32 tensors reshape too', () => {
    assert.deepEqual(values(ops.reshape(i32([1, 2, 3, 4]), [2, 2])), [1, 2, 3, 4]);
  });

  test('errors name the element count and the requested shape', () => {
    const x = f64(range(6), [2, 3]);
    assert.throws(() => ops.reshape(x, [4, 2]), /cannot reshape 6 elements into \[4, 2\]/);
    assert.throws(() => ops.reshape(x, [4, -1]), /cannot reshape 6 elements into \[4, -1\]/);
    assert.throws(() => ops.reshape(x, [-1, -1]), /cannot reshape 6 elements into \[-1, -1\]/);
    assert.throws(() => ops.reshape(x, [-2, -3]), /cannot reshape 6 elements into \[-2, -3\]/);
    assert.throws(() => ops.reshape(x, [1.5, 4]), /cannot reshape 6 elements into \[1.5, 4\]/);
  });
});

describe('permute and transpose', () => {
  const shape = [2, 3, 4];
  const x = range(24);
  for (const perm of [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
  ]) {
    test(`permute [${perm}] moves element index[perm[i]] to output axis i`, () => {
      const y = ops.permute(f64(x, shape), perm);
      const outShape = perm.map((p) => shape[p]!);
      assert.deepEqual(y.shape, outShape);
      const expected = [...indices(outShape)].map((out) => {
        const source = new Array<number>(3);
        perm.forEach((p, i) => {
          source[p] = out[i]!;
        });
        return x[flatIndex(source, shape)]!;
      });
      assert.deepEqual(values(y), expected);
    });
  }

  test('100 random permutations up to rank 5 (seeded)', () => {
    const rng = new Rng(8);
    for (let trial = 0; trial < 100; trial++) {
      const rank = 1 + rng.int(5);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(3));
      const perm = rng.shuffle(shape.map((_, i) => i));
      const x = range(shape.reduce((a, b) => a * b, 1));
      const outShape = perm.map((p) => shape[p]!);
      const expected = [...indices(outShape)].map((out) => {
        const source = new Array<number>(rank);
        perm.forEach((p, i) => {
          source[p] = out[i]!;
        });
        return flatIndex(source, shape);
      });
      assert.deepEqual(values(ops.permute(f64(x, shape), perm)), expected, `[${shape}] perm [${perm}]`);
    }
  });

  test('transpose of a matrix and of chosen axes', () => {
    assert.deepEqual(values(ops.transpose(f64([1, 2, 3, 4, 5, 6], [2, 3]))), [1, 4, 2, 5, 3, 6]);
    const t = ops.transpose(f64(range(24), [2, 3, 4]), 0, -1);
    assert.deepEqual(t.shape, [4, 3, 2]);
    assert.equal(t.dataSync()[flatIndex([3, 1, 1], [4, 3, 2])], flatIndex([1, 1, 3], [2, 3, 4]));
  });

  test('gradient of a 4-d permute', () => {
    gradcheck((t) => ops.permute(t, [3, 1, 0, 2]), [f64(normals(new Rng(1), 24), [2, 3, 2, 2])]);
  });

  test('errors', () => {
    const t = f64(range(6), [2, 3]);
    assert.throws(() => ops.permute(t, [0]), /permute order \[0\] is not a permutation of 2 axes/);
    assert.throws(() => ops.permute(t, [1, 1]), /permute order \[1, 1\] is not a permutation of 2 axes/);
    assert.throws(() => ops.transpose(t, 0, 2), /axis 2 is out of range for a tensor of rank 2/);
  });
});

describe('slice, concat and split', () => {
  test('slice picks [start, end) of one axis', () => {
    const x = f64(range(24), [2, 3, 4]);
    const y = ops.slice(x, 1, 1, 3);
    assert.deepEqual(y.shape, [2, 2, 4]);
    assert.deepEqual(values(y), [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]);
    assert.deepEqual(values(ops.slice(x, -1, 3, 4)), [3, 7, 11, 15, 19, 23]);
    assert.deepEqual(ops.slice(x, 0, 1, 1).shape, [0, 3, 4]);
  });

  test('gradient of slice places dy and zeros elsewhere', () => {
    gradcheck((t) => ops.slice(t, 0, 1, 3), [f64(normals(new Rng(2), 12), [4, 3])]);
  });

  test('concat joins along any axis', () => {
    const a = f64([1, 2, 3, 4], [2, 2]);
    const b = f64([5, 6], [2, 1]);
    assert.deepEqual(values(ops.concat([a, b], 1)), [1, 2, 5, 3, 4, 6]);
    assert.deepEqual(values(ops.concat([a, f64([9, 8], [1, 2])], 0)), [1, 2, 3, 4, 9, 8]);
    assert.deepEqual(values(ops.concat([i32([1]), i32([2, 3])], 0)), [1, 2, 3]);
    assert.deepEqual(ops.concat([a, b, a], -1).shape, [2, 5]);
  });

  test('split is the inverse of concat', () => {
    const x = f64(range(12), [2, 6]);
    const parts = ops.split(x, 1, [1, 2, 3]);
    assert.deepEqual(
      parts.map((p) => p.shape),
      [
        [2, 1],
        [2, 2],
        [2, 3],
      ],
    );
    assert.deepEqual(values(parts[1]!), [1, 2, 7, 8]);
    assert.deepEqual(values(ops.concat(parts, 1)), range(12));
  });

  test('shape and dtype errors', () => {
    const a = f64([1, 2, 3, 4], [2, 2]);
    assert.throws(
      () => ops.concat([a, f64([1, 2, 3], [3, 1])], 1),
      /concat along axis 1: shapes \[2, 2\] and \[3, 1\] differ/,
    );
    assert.throws(
      () => ops.concat([a, f64([1, 2])], 0),
      /concat along axis 0: shapes \[2, 2\] and \[2\] differ/,
    );
    assert.throws(
      () => ops.concat([a, ops.tensor([1, 2], [2, 1])], 1),
      /concat got mixed dtypes float64 and float32/,
    );
    assert.throws(() => ops.concat([], 0), /concat needs at least one tensor/);
    assert.throws(() => ops.slice(a, 0, 1, 3), /slice \[1, 3\) is out of range for axis 0 of \[2, 2\]/);
    assert.throws(() => ops.slice(a, 1, -1, 1), /slice \[-1, 1\) is out of range/);
    assert.throws(() => ops.split(a, 1, [1, 2]), /split sizes \[1, 2\] do not add up to axis 1 of \[2, 2\]/);
  });
});
