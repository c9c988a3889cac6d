/** The test helpers themselves: gradcheck must catch wrong gradient rules, assertClose must locate errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { record } from '../../src/autograd/tape.js';
import * as ops from '../../src/ops/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64 } from '../helpers/tensors.js';

/** x² whose gradient rule is replaced by `rule`. */
function squareWithRule(rule: (x: Tensor, dy: Tensor) => Tensor | null) {
  return (x: Tensor) => {
    const y = ops.noGrad(() => ops.mul(x, x));
    return record(y, 'square', [x], (dy) => [rule(x, dy)]);
  };
}

describe('gradcheck', () => {
  const x = f64([0.5, -1.5, 2], [3]);

  test('passes a correct rule', () => {
    gradcheck(
      squareWithRule((t, dy) => ops.mul(ops.mul(dy, t), 2)),
      [x],
    );
  });

  test('fails a rule that is off by a factor, naming the input and worst element', () => {
    assert.throws(
      () =>
        gradcheck(
          squareWithRule((t, dy) => ops.mul(dy, t)),
          [x],
          { name: 'badSquare' },
        ),
      /gradient of badSquare w.r.t. input 0: 3 of 3 elements outside atol=0.000001, rtol=0.000001; worst at \[2\]/,
    );
  });

  test('fails a missing gradient and a rule that is slightly off', () => {
    assert.throws(
      () =>
        gradcheck(
          squareWithRule(() => null),
          [x],
        ),
      /elements outside/,
    );
    assert.throws(
      () =>
        gradcheck(
          squareWithRule((t, dy) => ops.add(ops.mul(ops.mul(dy, t), 2), 1e-4)),
          [x],
        ),
      /3 of 3 elements outside/,
    );
  });

  test('checks only the inputs in wrt and needs float64 cpu inputs', () => {
    const y = f64([1, 2, 3]);
    // The wrong rule for input 1 is not checked when wrt = [0].
    const f = (a: Tensor, b: Tensor) => {
      const out = ops.noGrad(() => ops.mul(a, b));
      return record(out, 'mul', [a, b], (dy) => [ops.mul(dy, b), ops.mul(dy, 0)]);
    };
    gradcheck(f, [x, y], { wrt: [0] });
    assert.throws(() => gradcheck(f, [x, y]), /w.r.t. input 1/);
    assert.throws(() => gradcheck(ops.exp, [ops.tensor([1, 2])]), /gradcheck needs float64 inputs/);
  });
});

describe('assertClose', () => {
  test('reports the worst element as a multi-index', () => {
    assert.throws(
      () =>
        assertClose([1, 2, 3, 4, 5, 6], [1, 2, 3, 4.5, 5, 6.1], {
          atol: 0.01,
          rtol: 0,
          shape: [2, 3],
          message: 'm',
        }),
      /m: 2 of 6 elements outside atol=0.01, rtol=0; worst at \[1, 0\]: got 4, expected 4.5/,
    );
  });

  test('uses atol + rtol·|expected|', () => {
    assertClose([100.5], [100], { atol: 0, rtol: 0.01 });
    assert.throws(() => assertClose([100.5], [100], { atol: 0.1, rtol: 0.001 }), /1 of 1 elements outside/);
  });

  test('NaN matches only NaN; infinities must be equal', () => {
    assertClose([Number.NaN, Number.POSITIVE_INFINITY], [Number.NaN, Number.POSITIVE_INFINITY]);
    assert.throws(() => assertClose([Number.NaN], [0], { atol: 1 }), /worst at \[0\]: got NaN/);
    assert.throws(() => assertClose([0], [Number.NaN], { atol: 1 }), /expected NaN/);
    assert.throws(() => assertClose([Number.POSITIVE_INFINITY], [1e308]), /got Infinity/);
    assert.throws(
      () => assertClose([Number.NEGATIVE_INFINITY], [Number.POSITIVE_INFINITY]),
      /elements outside/,
    );
  });

  test('lengths must agree', () => {
    assert.throws(() => assertClose([1, 2], [1, 2, 3]), /2 values, expected 3/);
  });
});
