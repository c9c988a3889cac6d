/** softmax, argmax, cross-entropy, embedding, RMSNorm, LayerNorm and RoPE against naive float64 loops. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64, i32, normals, values } from '../helpers/tensors.js';

const tight = { atol: 1e-13, rtol: 1e-13 };

/** Rows of the last axis. */
function rows(x: number[], width: number): number[][] {
  return Array.from({ length: x.length / width }, (_, r) => x.slice(r * width, (r + 1) * width));
}

function logSumExp(row: number[]): number {
  const max = Math.max(...row);
  return max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
}

describe('softmax and argmax', () => {
  test('softmax matches exp(x − logsumexp) and is stable for huge logits', () => {
    const x = [...normals(new Rng(1), 12, 3), 1000, 999, -1000, 0];
    const y = values(ops.softmax(f64(x, [4, 4])));
    const expected = rows(x, 4).flatMap((row) => row.map((v) => Math.exp(v - logSumExp(row))));
    assertClose(y, expected, tight);
    assertClose(
      values(ops.softmax(f64([1000, 999, -1000, 0]))),
      [1 / (1 + Math.E ** -1), 1 / (1 + Math.E), 0, 0],
      tight,
    );
  });

  test('−∞ entries get probability 0 (additive masks)', () => {
    assert.deepEqual(
      values(ops.softmax(f64([0, Number.NEGATIVE_INFINITY, 0, Number.NEGATIVE_INFINITY]))),
      [0.5, 0, 0.5, 0],
    );
  });

  test('argmax returns int32 indices of the last axis, first index on ties', () => {
    const a = ops.argmax(f64([1, 5, 2, 7, 7, -1, -3, -2, -9], [3, 3]));
    assert.equal(a.dtype, 'int32');
    assert.deepEqual(a.shape, [3]);
    assert.deepEqual(values(a), [1, 0, 1]);
    assert.deepEqual(values(ops.argmax(ops.tensor([0.5, -1, 2, 2.5], [2, 1, 2]))), [0, 1]);
  });
});

describe('crossEntropy', () => {
  const vocab = 5;
  const logits = normals(new Rng(2), 6 * vocab, 2);
  const targets = [0, 4, -100, 2, 3, -100];
  const perRow = rows(logits, vocab).map((row, r) =>
    targets[r] === -100 ? 0 : logSumExp(row) - row[targets[r]!]!,
  );

  test('reductions none, sum and mean (mean over counted targets only)', () => {
    const l = f64(logits, [2, 3, vocab]);
    const t = i32(targets, [2, 3]);
    const none = ops.crossEntropy(l, t, { reduction: 'none' });
    assert.deepEqual(none.shape, [2, 3]);
    assertClose(values(none), perRow, tight);
    const total = perRow.reduce((a, b) => a + b, 0);
    assertClose(values(ops.crossEntropy(l, t, { reduction: 'sum' })), [total], tight);
    assertClose(values(ops.crossEntropy(l, t)), [total / 4], tight);
  });

  test('a custom ignoreIndex; -100 is then an out-of-vocabulary target', () => {
    const l = f64(logits.slice(0, 3 * vocab), [3, vocab]);
    const loss = ops.crossEntropy(l, i32([0, 4, 2]), { ignoreIndex: 4 });
    assertClose(values(loss), [(perRow[0]! + logSumExp(logits.slice(10, 15)) - logits[12]!) / 2], tight);
    assert.throws(
      () => ops.crossEntropy(l, i32([0, -100, 2]), { ignoreIndex: 4 }),
      /cross-entropy target -100 at row 1 is outside the vocabulary \[0, 5\)/,
    );
  });

  test('uniform logits give log V; huge logits stay finite', () => {
    assertClose(values(ops.crossEntropy(f64([0, 0, 0, 0], [1, 4]), i32([2]))), [Math.log(4)], tight);
    assertClose(values(ops.crossEntropy(f64([1000, 0, -1000], [1, 3]), i32([1]))), [1000], tight);
  });

  test('gradient of the mean is (softmax − onehot) / count, zero on ignored rows', () => {
    const l = f64(logits, [6, vocab]);
    l.requiresGrad = true;
    ops.backward(ops.crossEntropy(l, i32(targets)));
    const expected = rows(logits, vocab).flatMap((row, r) =>
      row.map((v, j) =>
        targets[r] === -100 ? 0 : (Math.exp(v - logSumExp(row)) - (j === targets[r] ? 1 : 0)) / 4,
      ),
    );
    assertClose(values(l.grad!), expected, tight);
  });

  test('every target ignored: the mean is NaN (0/0, as in PyTorch), the sum 0', () => {
    const l = f64([1, 2, 3, 4], [2, 2]);
    assert.ok(Number.isNaN(values(ops.crossEntropy(l, i32([-100, -100])))[0]!));
    assert.deepEqual(values(ops.crossEntropy(l, i32([-100, -100]), { reduction: 'sum' })), [0]);
  });

  test('errors', () => {
    const l = f64(logits.slice(0, 10), [2, vocab]);
    assert.throws(
      () => ops.crossEntropy(l, i32([0, 5])),
      /cross-entropy target 5 at row 1 is outside the vocabulary \[0, 5\)/,
    );
    assert.throws(() => ops.crossEntropy(l, i32([0, -1])), /target -1 at row 1 is outside/);
    assert.throws(
      () => ops.crossEntropy(l, f64([0, 1])),
      /crossEntropy targets must be int32, got \[2\] float64/,
    );
    assert.throws(
      () => ops.crossEntropy(l, i32([0, 1, 2])),
      /crossEntropy: logits \[2, 5\] need 2 targets, got \[3\]/,
    );
    assert.throws(
      () => ops.crossEntropy(i32([0, 1], [1, 2]), i32([0])),
      /op 'crossEntropy' needs floating-point/,
    );
  });
});

describe('embedding', () => {
  const weight = normals(new Rng(3), 4 * 3);

  test('gathers rows by id, any ids shape', () => {
    const y = ops.embedding(f64(weight, [4, 3]), i32([3, 0, 3, 1], [2, 2]));
    assert.deepEqual(y.shape, [2, 2, 3]);
    assert.deepEqual(
      values(y),
      [3, 0, 3, 1].flatMap((id) => weight.slice(id * 3, id * 3 + 3)),
    );
  });

  test('the gradient adds up the rows of repeated ids and leaves unused rows zero', () => {
    const w = f64(weight, [4, 3]);
    w.requiresGrad = true;
    const dy = normals(new Rng(4), 4 * 3);
    ops.backward(ops.embedding(w, i32([3, 0, 3, 1])), f64(dy, [4, 3]));
    const expected = [0, 1, 2, 3].flatMap((row) =>
      [0, 1, 2].map((j) => [3, 0, 3, 1].reduce((s, id, i) => s + (id === row ? dy[i * 3 + j]! : 0), 0)),
    );
    assertClose(values(w.grad!), expected, tight);
    assert.deepEqual(values(w.grad!).slice(6, 9), [0, 0, 0]);
  });

  test('errors: ids out of range, float ids, weight rank', () => {
    const w = f64(weight, [4, 3]);
    assert.throws(
      () => ops.embedding(w, i32([1, 4])),
      /token id 4 at position 1 is outside the vocabulary \[0, 4\)/,
    );
    assert.throws(
      () => ops.embedding(w, i32([-1])),
      /token id -1 at position 0 is outside the vocabulary \[0, 4\)/,
    );
    assert.throws(() => ops.embedding(w, f64([1])), /embedding ids must be int32, got \[1\] float64/);
    assert.throws(
      () => ops.embedding(f64(weight), i32([1])),
      /embedding weight must be \[vocab, dim\], got \[12\]/,
    );
    assert.throws(() => ops.embedding(i32([1, 2], [1, 2]), i32([0])), /op 'embedding' needs floating-point/);
  });
});

describe('RMSNorm and LayerNorm', () => {
  const dim = 5;
  const x = normals(new Rng(5), 3 * dim, 2);
  const w = normals(new Rng(6), dim);
  const b = normals(new Rng(7), dim);

  function naiveRms(weightOf: (j: number) => number, eps: number): number[] {
    return rows(x, dim).flatMap((row) => {
      const rms = Math.sqrt(row.reduce((s, v) => s + v * v, 0) / dim + eps);
      return row.map((v, j) => (v / rms) * weightOf(j));
    });
  }

  function naiveLayerNorm(
    weightOf: (j: number) => number,
    biasOf: (j: number) => number,
    eps: number,
  ): number[] {
    return rows(x, dim).flatMap((row) => {
      const mean = row.reduce((s, v) => s + v, 0) / dim;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / dim;
      return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * weightOf(j) + biasOf(j));
    });
  }

  test('rmsNorm with weight, without weight, and Gemma (1 + w)', () => {
    const xt = f64(x, [3, dim]);
    assertClose(
      values(ops.rmsNorm(xt, f64(w), { eps: 1e-5 })),
      naiveRms((j) => w[j]!, 1e-5),
      tight,
    );
    assertClose(
      values(ops.rmsNorm(xt, null, { eps: 1e-6 })),
      naiveRms(() => 1, 1e-6),
      tight,
    );
    assertClose(
      values(ops.rmsNorm(xt, f64(w), { eps: 1e-6, plusOne: true })),
      naiveRms((j) => 1 + w[j]!, 1e-6),
      tight,
    );
    // eps matters: a row of zeros normalises to zeros, a tiny row is damped.
    assertClose(
      values(ops.rmsNorm(f64([1e-4, -1e-4]), null, { eps: 1e-6 })),
      [1e-4 / Math.sqrt(1e-8 + 1e-6), -1e-4 / Math.sqrt(1e-8 + 1e-6)],
      tight,
    );
    assert.deepEqual(values(ops.rmsNorm(f64([0, 0]), null, { eps: 1e-6 })), [0, 0]);
  });

  test('layerNorm with every combination of weight and bias (biased variance)', () => {
    const xt = f64(x, [3, dim]);
    const one = () => 1;
    const zero = () => 0;
    assertClose(
      values(ops.layerNorm(xt, f64(w), f64(b), 1e-5)),
      naiveLayerNorm(
        (j) => w[j]!,
        (j) => b[j]!,
        1e-5,
      ),
      tight,
    );
    assertClose(values(ops.layerNorm(xt, null, null, 1e-5)), naiveLayerNorm(one, zero, 1e-5), tight);
    assertClose(
      values(ops.layerNorm(xt, f64(w), null, 1e-5)),
      naiveLayerNorm((j) => w[j]!, zero, 1e-5),
      tight,
    );
    assertClose(
      values(ops.layerNorm(xt, null, f64(b), 1e-5)),
      naiveLayerNorm(one, (j) => b[j]!, 1e-5),
      tight,
    );
  });

  test('gradients with a larger eps (the eps term is differentiated too)', () => {
    const xt = f64(normals(new Rng(8), 8, 0.3), [2, 4]);
    gradcheck((a, g) => ops.rmsNorm(a, g, { eps: 0.05 }), [xt, f64([0.5, -1, 2, 1.5])]);
    gradcheck(
      (a, g, h) => ops.layerNorm(a, g, h, 0.05),
      [xt, f64([0.5, -1, 2, 1.5]), f64([0.1, 0.2, 0.3, 0.4])],
    );
  });

  test('a weight or bias that does not match the last axis is an error', () => {
    const xt = f64(x, [3, dim]);
    assert.throws(
      () => ops.rmsNorm(xt, f64([1, 2, 3]), { eps: 1e-6 }),
      /rmsNorm weight \[3\] does not match the last axis of \[3, 5\]/,
    );
    assert.throws(
      () => ops.layerNorm(xt, f64([1, 2]), null, 1e-5),
      /layerNorm weight \[2\] does not match the last axis of \[3, 5\]/,
    );
    assert.throws(
      () => ops.layerNorm(xt, null, f64(w, [1, 5]), 1e-5),
      /layerNorm bias \[1, 5\] does not match the last axis of \[3, 5\]/,
    );
    assert.throws(
      () => ops.rmsNorm(xt, ops.tensor(w), { eps: 1e-6 }),
      /op 'rmsNorm' got mixed dtypes float64 and float32/,
    );
  });
});

describe('RoPE', () => {
  /** Angles θ_i·p with θ_i = base^(−2i/R) for positions start.. (the HF inv_freq). */
  function angles(start: number, positions: number, rotaryDim: number, base: number): number[][] {
    return Array.from({ length: positions }, (_, t) =>
      Array.from({ length: rotaryDim / 2 }, (_, i) => (start + t) * base ** ((-2 * i) / rotaryDim)),
    );
  }

  function tables(a: number[][]): [Tensor, Tensor] {
    const half = a[0]!.length;
    return [f64(a.flat().map(Math.cos), [a.length, half]), f64(a.flat().map(Math.sin), [a.length, half])];
  }

  /**
   * HF apply_rotary_pos_emb on x [B, T, H, D]: the first R dims are rotated, as x·cos + rotate_half(x)·sin
   * with rotate_half(x) = [−x₂, x₁] (or the GPT-J interleaved pairs); the rest pass through.
   */
  function naiveRope(
    x: number[],
    shape: number[],
    a: number[][],
    rotaryDim: number,
    interleaved: boolean,
  ): number[] {
    const [, seq, heads, headDim] = shape as [number, number, number, number];
    const out = [...x];
    const half = rotaryDim / 2;
    for (let v = 0; v < x.length / headDim; v++) {
      const t = Math.floor(v / heads) % seq;
      const base = v * headDim;
      const vec = x.slice(base, base + rotaryDim);
      for (let d = 0; d < rotaryDim; d++) {
        if (interleaved) {
          const i = Math.floor(d / 2);
          const [c, s] = [Math.cos(a[t]![i]!), Math.sin(a[t]![i]!)];
          out[base + d] = d % 2 === 0 ? vec[d]! * c - vec[d + 1]! * s : vec[d]! * c + vec[d - 1]! * s;
        } else {
          const i = d % half;
          const [c, s] = [Math.cos(a[t]![i]!), Math.sin(a[t]![i]!)];
          const rotated = d < half ? -vec[d + half]! : vec[d - half]!;
          out[base + d] = vec[d]! * c + rotated * s;
        }
      }
    }
    return out;
  }

  const configs: [string, number, number, boolean, number][] = [
    // [label, headDim, rotaryDim, interleaved, start position]
    ['rotate-half, full', 6, 6, false, 0],
    ['rotate-half, partial 4 of 8, from position 7', 8, 4, false, 7],
    ['interleaved, full', 6, 6, true, 3],
    ['interleaved, partial 2 of 6', 6, 2, true, 0],
  ];
  for (const [label, headDim, rotaryDim, interleaved, start] of configs) {
    test(`${label} matches the HF formula`, () => {
      const shape = [2, 3, 2, headDim];
      const x = normals(
        new Rng(headDim + rotaryDim),
        shape.reduce((p, q) => p * q, 1),
      );
      const a = angles(start, 3, rotaryDim, 10000);
      const [cos, sin] = tables(a);
      const y = ops.rope(f64(x, shape), cos, sin, { rotaryDim, interleaved });
      assertClose(values(y), naiveRope(x, shape, a, rotaryDim, interleaved), { ...tight, shape });
      gradcheck(
        (t) => ops.rope(t, cos, sin, { rotaryDim, interleaved }),
        [f64(x.slice(0, 3 * 2 * headDim), [3, 2, headDim])],
      );
    });
  }

  test('headsFirst: the rotation of x transposed to [..., H, T, D], and its gradient', () => {
    for (const [rotaryDim, interleaved] of [
      [8, false],
      [4, true],
    ] as const) {
      const shape = [2, 3, 2, 8]; // [B, T, H, D]
      const x = f64(normals(new Rng(rotaryDim), 96), shape);
      const [cos, sin] = tables(angles(2, 3, rotaryDim, 10000));
      const flat = ops.rope(x, cos, sin, { rotaryDim, interleaved });
      const heads = ops.rope(x, cos, sin, { rotaryDim, interleaved, headsFirst: true });
      assert.deepEqual(heads.shape, [2, 2, 3, 8]);
      assert.deepEqual(values(heads), values(ops.permute(flat, [0, 2, 1, 3])));
      gradcheck((t) => ops.rope(t, cos, sin, { rotaryDim, interleaved, headsFirst: true }), [x]);
    }
  });

  test('scores depend only on relative position (q at m, k at n)', () => {
    const rng = new Rng(9);
    const q = f64(normals(rng, 8), [1, 1, 8]);
    const k = f64(normals(rng, 8), [1, 1, 8]);
    const score = (m: number, n: number) => {
      const [qc, qs] = tables(angles(m, 1, 8, 100));
      const [kc, ks] = tables(angles(n, 1, 8, 100));
      const qr = values(ops.rope(q, qc, qs));
      const kr = values(ops.rope(k, kc, ks));
      return qr.reduce((s, v, i) => s + v * kr[i]!, 0);
    };
    assertClose([score(5, 2), score(13, 10)], [score(3, 0), score(3, 0)], { atol: 1e-12, rtol: 1e-12 });
    assert.ok(Math.abs(score(3, 0) - score(4, 0)) > 1e-6);
  });

  test('errors', () => {
    const x = f64(normals(new Rng(1), 12), [3, 1, 4]);
    const [cos, sin] = tables(angles(0, 3, 4, 10000));
    assert.throws(
      () => ops.rope(x, cos, sin, { rotaryDim: 3 }),
      /rotary dim 3 must be even and at most the head dim 4/,
    );
    assert.throws(
      () => ops.rope(x, cos, sin, { rotaryDim: 6 }),
      /rotary dim 6 must be even and at most the head dim 4/,
    );
    assert.throws(
      () => ops.rope(x, cos, sin, { rotaryDim: 2 }),
      /rope tables \[3, 2\] and \[3, 2\] do not match 3 positions x 1 frequencies/,
    );
    const [cos2, sin2] = tables(angles(0, 2, 4, 10000));
    assert.throws(
      () => ops.rope(x, cos2, sin2),
      /rope tables \[2, 2\] and \[2, 2\] do not match 3 positions x 2 frequencies/,
    );
    assert.throws(() => ops.rope(x, cos, sin2), /rope tables \[3, 2\] and \[2, 2\] do not match/);
  });
});
