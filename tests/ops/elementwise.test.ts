/** Elementwise ops: the unary table against independent formulas and known values, broadcasting arithmetic. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { erf, type UnaryOpName, unaryOps } from '../../src/ops/elementwise-table.js';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64, flatIndex, i32, indices, normals, values } from '../helpers/tensors.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Independent float64 definitions of every unary op. */
const unaryReference: Record<UnaryOpName, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => x ** -0.5,
  reciprocal: (x) => 1 / x,
  square: (x) => x ** 2,
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => Math.max(x, 0),
  relu2: (x) => Math.max(x, 0) ** 2,
  silu: (x) => x * sigmoid(x),
  // Φ(x)·x through erf, which is checked against known values below.
  gelu: (x) => x * 0.5 * (1 + erf(x / Math.SQRT2)),
  geluTanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
};

const positiveOnly = new Set<UnaryOpName>(['log', 'sqrt', 'rsqrt', 'reciprocal']);
const signedInputs = [-4.5, -2, -1, -0.3, 0.25, 0.7, 1, 3.2, 6];
const positiveInputs = [0.01, 0.3, 0.5, 1, 2.5, 7, 100];

describe('unary ops', () => {
  test('the reference table covers every row of the elementwise table', () => {
    assert.deepEqual(Object.keys(unaryReference).sort(), Object.keys(unaryOps).sort());
  });

  for (const op of Object.keys(unaryOps) as UnaryOpName[]) {
    test(`${op} forward (float64 and float32)`, () => {
      const xs = positiveOnly.has(op) ? positiveInputs : signedInputs;
      const expected = xs.map(unaryReference[op]);
      assertClose(values(ops.unary(op, f64(xs))), expected, { atol: 1e-14, rtol: 1e-13, message: op });
      const y32 = ops.unary(op, ops.tensor(xs, [xs.length]));
      assert.equal(y32.dtype, 'float32');
      assertClose(values(y32), expected, { atol: 1e-6, rtol: 1e-6, message: `${op} float32` });
    });
  }

  test('erf matches known values on both sides of the series/continued-fraction switch', () => {
    const known: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [-0.3, -0.3286267594591274],
      [2.99, 0.9999764743969194],
      [3, 0.9999779095030014],
      [3.5, 0.9999992569016276],
      [5, 0.9999999999984626],
    ];
    for (const [x, e] of known) {
      // The series loses a few digits to cancellation just below 3.
      assert.ok(Math.abs(erf(x) - e) < 1e-13, `erf(${x}) = ${erf(x)}, expected ${e}`);
      assert.ok(Math.abs(erf(-x) + e) < 1e-13, `erf(${-x}) = ${erf(-x)}, expected ${-e}`);
    }
    assert.equal(erf(0), 0);
  });

  test('exact GELU matches known values (x·Φ(x))', () => {
    const xs = [1, -1, 2, 0.5, -3, 4];
    const known = [
      0.8413447460685429, -0.15865525393145707, 1.9544997361036416, 0.34573123063700656, -0.00404969409489031,
      3.9998733150326675,
    ];
    assertClose(values(ops.gelu(f64(xs))), known, { atol: 1e-14, rtol: 1e-14 });
  });

  test('tanh GELU matches known values and differs from exact GELU', () => {
    const y = values(ops.geluTanh(f64([1, -1, 2])));
    assertClose(y, [0.8411919906082768, -0.15880800939172324, 1.954597694087775], {
      atol: 1e-15,
      rtol: 1e-14,
    });
    assert.ok(Math.abs(y[0]! - 0.8413447460685429) > 1e-4);
  });

  test('large inputs stay finite where the math is finite', () => {
    assert.deepEqual(values(ops.sigmoid(f64([-800, 800]))), [0, 1]);
    assert.deepEqual(values(ops.silu(f64([-800, 800]))), [-0, 800]);
    assertClose(values(ops.gelu(f64([-40, 40]))), [0, 40], { atol: 1e-300 });
  });

  test('reject int32 tensors', () => {
    assert.throws(() => ops.exp(i32([1, 2])), /op 'exp' needs floating-point tensors, got \[2\] int32/);
  });
});

/** out[i] = f(a[bcast i], b[bcast i]) by explicit NumPy broadcasting over multi-indices. */
function broadcastReference(
  a: number[],
  aShape: number[],
  b: number[],
  bShape: number[],
  f: (x: number, y: number) => number,
): { shape: number[]; out: number[] } {
  const rank = Math.max(aShape.length, bShape.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const pa = pad(aShape);
  const pb = pad(bShape);
  const shape = pa.map((d, i) => Math.max(d, pb[i]!));
  const out: number[] = [];
  for (const index of indices(shape)) {
    const ia = flatIndex(
      index.map((k, d) => (pa[d] === 1 ? 0 : k)),
      pa,
    );
    const ib = flatIndex(
      index.map((k, d) => (pb[d] === 1 ? 0 : k)),
      pb,
    );
    out.push(f(a[ia]!, b[ib]!));
  }
  return { shape, out };
}

describe('binary ops with broadcasting', () => {
  test('hand-computed examples', () => {
    const a = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(values(ops.add(a, f64([10, 20, 30]))), [11, 22, 33, 14, 25, 36]);
    assert.deepEqual(values(ops.sub(a, f64([1, 2], [2, 1]))), [0, 1, 2, 2, 3, 4]);
    assert.deepEqual(values(ops.mul(f64([2], [1]), a)), [2, 4, 6, 8, 10, 12]);
    assert.deepEqual(values(ops.div(a, f64([2], []))), [0.5, 1, 1.5, 2, 2.5, 3]);
    assert.deepEqual(ops.add(f64([1, 2], [2, 1]), f64([10, 20, 30], [1, 3])).shape, [2, 3]);
    assert.deepEqual(
      values(ops.add(f64([1, 2], [2, 1]), f64([10, 20, 30], [1, 3]))),
      [11, 21, 31, 12, 22, 32],
    );
  });

  const shapePairs: [number[], number[]][] = [
    [
      [2, 3],
      [2, 3],
    ],
    [[2, 3], [3]],
    [[3], [2, 3]],
    [
      [1, 3],
      [2, 3],
    ],
    [
      [2, 3],
      [2, 1],
    ],
    [
      [2, 1, 3],
      [4, 1],
    ],
    [
      [3, 1],
      [1, 4],
    ],
    [
      [2, 3, 4],
      [1, 3, 1],
    ],
    [
      [1, 1, 4],
      [2, 3, 1],
    ],
    [[2, 3], []],
    [[], [2, 3]],
    [[1], [2, 1, 1]],
  ];
  const cases: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
    ['add', ops.add, (x, y) => x + y],
    ['sub', ops.sub, (x, y) => x - y],
    ['mul', ops.mul, (x, y) => x * y],
    ['div', ops.div, (x, y) => x / y],
  ];
  for (const [aShape, bShape] of shapePairs) {
    test(`[${aShape}] with [${bShape}] against a naive broadcasting loop`, () => {
      const rng = new Rng(aShape.length * 10 + bShape.length);
      const a = normals(
        rng,
        aShape.reduce((x, y) => x * y, 1),
      );
      const b = normals(
        rng,
        bShape.reduce((x, y) => x * y, 1),
      ).map((v) => v + Math.sign(v));
      for (const [name, op, f] of cases) {
        const expected = broadcastReference(a, aShape, b, bShape, f);
        const y = op(f64(a, aShape), f64(b, bShape));
        assert.deepEqual(y.shape, expected.shape, name);
        assertClose(values(y), expected.out, { atol: 0, rtol: 1e-15, shape: expected.shape, message: name });
      }
    });
  }

  test('300 random broadcast pairs up to rank 4 (seeded) against the naive loop', () => {
    const rng = new Rng(2024);
    for (let trial = 0; trial < 300; trial++) {
      const rank = rng.int(5);
      const full = Array.from({ length: rank }, () => 1 + rng.int(3));
      // Each operand keeps a random suffix of the axes, with random axes set to 1.
      const operand = () => full.slice(rng.int(rank + 1)).map((d) => (rng.uniform() < 0.3 ? 1 : d));
      const aShape = operand();
      const bShape = operand();
      const a = normals(
        rng,
        aShape.reduce((x, y) => x * y, 1),
      );
      const b = normals(
        rng,
        bShape.reduce((x, y) => x * y, 1),
      );
      const [name, op, f] = cases[rng.int(3)]!;
      const expected = broadcastReference(a, aShape, b, bShape, f);
      const y = op(f64(a, aShape), f64(b, bShape));
      assert.deepEqual(y.shape, expected.shape, `${name} [${aShape}] [${bShape}]`);
      assertClose(values(y), expected.out, {
        atol: 0,
        rtol: 1e-15,
        message: `${name} [${aShape}] [${bShape}]`,
      });
    }
  });

  test('gradients reduce over broadcast axes (composite expression)', () => {
    const rng = new Rng(5);
    const x = f64(normals(rng, 6), [2, 1, 3]);
    const y = f64(
      normals(rng, 4).map((v) => v + 3 * Math.sign(v)),
      [4, 1],
    );
    gradcheck((a, b) => ops.add(ops.mul(a, a), ops.div(ops.sub(a, b), b)), [x, y]);
  });

  test('gatedUnary: act(gate) ⊙ up in one pass, with its gradient, for every config activation', () => {
    const rng = new Rng(11);
    for (const op of ['silu', 'gelu', 'geluTanh', 'relu', 'relu2'] as const) {
      // Away from relu's kink, where the numerical gradient is not defined.
      const gate = f64(
        normals(rng, 12).map((v) => v + 0.2 * Math.sign(v)),
        [3, 4],
      );
      const up = f64(normals(rng, 12), [3, 4]);
      assertClose(values(ops.gatedUnary(op, gate, up)), values(ops.mul(ops.unary(op, gate), up)), {
        atol: 1e-15,
        rtol: 1e-14,
        message: op,
      });
      gradcheck((g, u) => ops.gatedUnary(op, g, u), [gate, up]);
    }
    // Shapes that differ fall back to the two ops (broadcasting).
    const row = f64([1, -2, 3]);
    const m = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(values(ops.gatedUnary('relu', m, row)), values(ops.mul(ops.relu(m), row)));
  });

  test('numbers as operands are affine maps', () => {
    const x = f64([1, -2, 4]);
    assert.deepEqual(values(ops.add(x, 1.5)), [2.5, -0.5, 5.5]);
    assert.deepEqual(values(ops.sub(x, 1)), [0, -3, 3]);
    assert.deepEqual(values(ops.mul(x, -2)), [-2, 4, -8]);
    assert.deepEqual(values(ops.div(x, 4)), [0.25, -0.5, 1]);
    assert.deepEqual(values(ops.affine(x, 3, -1)), [2, -7, 11]);
  });

  test('softcap is cap·tanh(x/cap)', () => {
    const xs = [-100, -5, 0.5, 30, 1000];
    assertClose(
      values(ops.softcap(f64(xs), 30)),
      xs.map((x) => 30 * Math.tanh(x / 30)),
      { atol: 1e-14, rtol: 1e-14 },
    );
  });

  test('incompatible shapes name both shapes', () => {
    assert.throws(
      () => ops.add(f64([1, 2, 3, 4, 5, 6], [2, 3]), f64([1, 2, 3, 4], [4])),
      /shapes \[2, 3\] and \[4\] cannot be broadcast together/,
    );
    assert.throws(
      () => ops.mul(f64([1, 2, 3, 4], [2, 2]), f64([1, 2, 3, 4, 5, 6], [3, 2])),
      /shapes \[2, 2\] and \[3, 2\] cannot be broadcast/,
    );
  });

  test('wrong dtypes are rejected', () => {
    assert.throws(() => ops.add(i32([1, 2]), i32([3, 4])), /op 'add' needs floating-point tensors/);
    assert.throws(
      () => ops.mul(f64([1, 2]), ops.tensor([3, 4])),
      /op 'mul' got mixed dtypes float64 and float32/,
    );
    assert.throws(() => ops.affine(i32([1]), 2, 0), /op 'affine' needs floating-point tensors/);
  });
});
