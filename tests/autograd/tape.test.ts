/** The tape: accumulation over reuse and over backward calls, gradient ownership, noGrad, errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { liveTensorCount, scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64, normals, values } from '../helpers/tensors.js';

function leaf(xs: number[], shape?: number[]): Tensor {
  return ops.parameter(f64(xs, shape));
}

describe('gradient accumulation', () => {
  test('a tensor used twice in one op gets both contributions', () => {
    const x = leaf([1.5, -2]);
    ops.backward(ops.sum(ops.mul(x, x)));
    assert.deepEqual(values(x.grad!), [3, -4]);
    const y = leaf([1, 2]);
    ops.backward(ops.sum(ops.add(y, y)));
    assert.deepEqual(values(y.grad!), [2, 2]);
  });

  test('a tensor used in several branches (and through a view) sums the branch gradients', () => {
    const x = leaf([0.5, 1, -1, 2], [2, 2]);
    // L = Σ 3x + Σ eˣ + Σ (reshape(x) ⊙ x) with x also broadcast against a row of itself.
    const loss = ops.add(
      ops.add(ops.sum(ops.mul(x, 3)), ops.sum(ops.exp(x))),
      ops.sum(ops.mul(ops.reshape(x, [4]), ops.reshape(x, [4]))),
    );
    ops.backward(loss);
    assertClose(
      values(x.grad!),
      [0.5, 1, -1, 2].map((v) => 3 + Math.exp(v) + 2 * v),
      { atol: 1e-15 },
    );
  });

  test('a diamond graph matches finite differences', () => {
    gradcheck(
      (a) => {
        const b = ops.exp(a);
        return ops.add(ops.mul(b, b), ops.div(b, ops.add(a, 3)));
      },
      [f64(normals(new Rng(1), 5))],
    );
  });

  test('a second backward adds to .grad in place, without leaking tensors', () => {
    const x = leaf([1, 2, 3]);
    const loss = () => ops.sum(ops.mul(x, x));
    scope(() => ops.backward(loss()));
    const grad = x.grad!;
    const live = liveTensorCount();
    scope(() => ops.backward(loss()));
    assert.equal(x.grad, grad, '.grad keeps its identity');
    assert.deepEqual(values(grad), [4, 8, 12]);
    assert.equal(liveTensorCount(), live);
  });

  test('each leaf owns its gradient: add hands dy to both inputs, reshape a view of it', () => {
    const a = leaf([1, 2, 3, 4], [2, 2]);
    const b = leaf([5, 6, 7, 8], [2, 2]);
    const c = leaf([0, 0, 0, 0]);
    ops.backward(ops.sum(ops.mul(ops.add(ops.add(a, b), ops.reshape(c, [2, 2])), f64([1, 2, 3, 4], [2, 2]))));
    assert.notEqual(a.grad, b.grad);
    assert.notEqual(a.grad!.storage, b.grad!.storage);
    assert.notEqual(b.grad!.storage, c.grad!.storage);
    a.grad!.dispose();
    assert.deepEqual(values(b.grad!), [1, 2, 3, 4]);
    assert.deepEqual(values(c.grad!), [1, 2, 3, 4]);
  });

  test('the seed passed to backward stays the caller’s', () => {
    const x = leaf([1, 2]);
    const seed = f64([0.5, -1]);
    ops.backward(ops.add(x, 0), seed);
    assert.notEqual(x.grad, seed);
    seed.dispose();
    assert.deepEqual(values(x.grad!), [0.5, -1]);
  });
});

describe('what gets gradients', () => {
  test('only leaves that require them; intermediates and constants get none', () => {
    const x = leaf([1, 2]);
    const c = f64([3, 4]);
    const hidden = ops.mul(x, c);
    ops.backward(ops.sum(hidden));
    assert.deepEqual(values(x.grad!), [3, 4]);
    assert.equal(c.grad, null);
    assert.equal(hidden.grad, null);
    assert.equal(c.requiresGrad, false);
  });

  test('an explicit seed backpropagates a non-scalar output', () => {
    const x = leaf([1, 2, 3]);
    ops.backward(ops.square(x), f64([1, 0, -1]));
    assert.deepEqual(values(x.grad!), [2, 0, -6]);
  });

  test('a deep chain does not overflow the stack', () => {
    const x = leaf([1]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = ops.affine(y, 1, 0.001);
    ops.backward(ops.sum(y));
    assert.deepEqual(values(x.grad!), [1]);
  });
});

describe('noGrad', () => {
  test('records nothing inside and restores the mode after, also when fn throws', () => {
    const x = leaf([1, 2]);
    assert.equal(ops.isGradEnabled(), true);
    const y = ops.noGrad(() => {
      assert.equal(ops.isGradEnabled(), false);
      const inner = ops.noGrad(() => ops.mul(x, x));
      assert.equal(ops.isGradEnabled(), false, 'a nested noGrad restores the outer (off) mode');
      return ops.add(inner, x);
    });
    assert.equal(ops.isGradEnabled(), true);
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.throws(
      () => ops.backward(ops.sum(y)),
      /backward\(\) called on a tensor that does not require gradients/,
    );
    assert.throws(() =>
      ops.noGrad(() => {
        throw new Error('boom');
      }),
    );
    assert.equal(ops.isGradEnabled(), true);
    assert.equal(ops.mul(x, x).requiresGrad, true);
  });
});

describe('backward errors', () => {
  test('non-scalar loss without a seed, and a seed of the wrong shape', () => {
    const x = leaf([1, 2, 3]);
    assert.throws(
      () => ops.backward(ops.mul(x, 2)),
      /backward\(\) needs a scalar loss or an explicit gradient; got \[3\] float64/,
    );
    assert.throws(
      () => ops.backward(ops.mul(x, 2), f64([1])),
      /backward\(\) seed \[1\] float64 does not match the shape of \[3\] float64/,
    );
    assert.equal(x.grad, null);
  });
});
