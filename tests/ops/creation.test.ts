/** Tensor creation, dtypes, backends, and the seeded generator (reference vectors, state restore). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Backend, registerBackend, setBackend } from '../../src/backend/backend.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { f64, values } from '../helpers/tensors.js';

describe('creating tensors', () => {
  test('from number arrays and typed arrays, with dtype conversion', () => {
    const a = ops.tensor([1, 2, 3, 4], [2, 2]);
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.shape, [2, 2]);
    assert.equal(ops.tensor(Int32Array.from([1, 2])).dtype, 'int32');
    assert.deepEqual(values(ops.tensor([1.7, -2.2], [2], { dtype: 'int32' })), [1, -2]);
    const narrowed = ops.tensor(Float64Array.from([0.1]), [1], { dtype: 'float32' });
    assert.equal(narrowed.dtype, 'float32');
    assert.equal(values(narrowed)[0], Math.fround(0.1));
  });

  test('the source array is copied', () => {
    const source = Float64Array.from([1, 2]);
    const t = ops.tensor(source);
    source[0] = 99;
    assert.deepEqual(values(t), [1, 2]);
    const read = t.dataSync();
    read[1] = 99;
    assert.deepEqual(values(t), [1, 2]);
  });

  test('constants', () => {
    assert.deepEqual(values(ops.zeros([2, 2])), [0, 0, 0, 0]);
    assert.deepEqual(values(ops.ones([3], { dtype: 'float64' })), [1, 1, 1]);
    assert.deepEqual(values(ops.full([2], -3.5)), [-3.5, -3.5]);
    const s = ops.scalar(7);
    assert.deepEqual(s.shape, []);
    assert.equal(s.itemSync(), 7);
    assert.equal(ops.zeros([2], { dtype: 'int32' }).dtype, 'int32');
  });

  test('errors: sizes, item of a non-scalar, unsupported dtype, mixed backends', async () => {
    assert.throws(() => ops.tensor([1, 2, 3, 4, 5], [2, 2]), /5 values do not fill shape \[2, 2\]/);
    assert.throws(() => ops.tensor([1, 2], [-1, -2]), /shape \[-1, -2\] must hold non-negative integers/);
    assert.throws(() => ops.zeros([2, 0.5]), /shape \[2, 0.5\] must hold non-negative integers/);
    assert.throws(() => f64([1, 2]).itemSync(), /item\(\) needs a one-element tensor, got shape \[2\]/);
    await assert.rejects(f64([1, 2]).item(), /item\(\) needs a one-element tensor/);
    const float32Only: Backend = {
      ...cpuBackend,
      name: 'cpu-float32-only',
      supportsDType: (d) => d !== 'float64',
    };
    registerBackend(float32Only);
    assert.throws(
      () => ops.tensor(Float64Array.from([1]), [1], { backend: float32Only }),
      /backend 'cpu-float32-only' does not support float64/,
    );
    assert.throws(
      () => ops.zeros([2], { dtype: 'float64', backend: float32Only }),
      /backend 'cpu-float32-only' does not support float64/,
    );
    const other = ops.tensor([1, 2], [2], { backend: float32Only });
    assert.throws(
      () => ops.add(ops.tensor([1, 2]), other),
      /op 'binary' got tensors on different backends \('cpu' and 'cpu-float32-only'\)/,
    );
    assert.throws(
      () => setBackend('no-such-backend'),
      /backend 'no-such-backend' is not available \(registered: cpu/,
    );
  });
});

describe('Rng', () => {
  test('xoshiro128** reference outputs and states (Blackman & Vigna C reference)', () => {
    const rng = new Rng();
    rng.setState([1, 2, 3, 4]);
    const outputs = Array.from({ length: 10 }, () => rng.nextUint32());
    assert.deepEqual(
      outputs,
      [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804],
    );
    rng.setState([0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0]);
    assert.equal(rng.nextUint32(), 0xf1391922);
    assert.deepEqual(rng.getState(), [0x72410269, 0xef382c52, 0x2e43bec7, 0x62432f20]);
    assert.deepEqual(
      [rng.nextUint32(), rng.nextUint32(), rng.nextUint32()],
      [0x6fe53806, 0xa5be2840, 0xf510ee70],
    );
  });

  test('the same seed gives the same stream, different seeds differ', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return [rng.nextUint32(), rng.uniform(), rng.normal(), rng.int(1000)];
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    assert.deepEqual(draw(0), draw(2 ** 32), 'seeds are taken modulo 2^32');
  });

  test('getState/setState restores the stream exactly, also into another generator', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 5; i++) rng.normal();
    const saved = rng.getState();
    const expected = Array.from({ length: 20 }, () => rng.normal());
    rng.setState(saved);
    assert.deepEqual(
      Array.from({ length: 20 }, () => rng.normal()),
      expected,
    );
    const other = new Rng(999);
    other.setState(JSON.parse(JSON.stringify(saved)));
    assert.deepEqual(
      Array.from({ length: 20 }, () => other.normal()),
      expected,
    );
    assert.throws(() => rng.setState([1, 2, 3]), /Rng state must be four uint32 values/);
  });

  test('distributions: uniform in [0, 1), int in [0, n), normal moments', () => {
    const rng = new Rng(1);
    const n = 20000;
    let sum = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      sum += u;
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    assert.ok(min >= 0 && max < 1 && min < 0.001 && max > 0.999);
    assert.ok(Math.abs(sum / n - 0.5) < 0.01, `uniform mean ${sum / n}`);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[rng.int(6)]!++;
    assert.ok(
      counts.every((c) => c > 850 && c < 1150),
      `int(6) counts ${counts}`,
    );
    let m1 = 0;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      m1 += z;
      m2 += z * z;
    }
    assert.ok(Math.abs(m1 / n) < 0.03, `normal mean ${m1 / n}`);
    assert.ok(Math.abs(m2 / n - 1) < 0.04, `normal variance ${m2 / n}`);
  });

  test('shuffle is a deterministic permutation', () => {
    const a = new Rng(3).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(new Rng(3).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), a);
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.notDeepEqual(a, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('randn and uniform tensors are reproducible and scaled', () => {
    const a = ops.randn([100], new Rng(5), 0.02, { dtype: 'float64' });
    const b = ops.randn([100], new Rng(5), 0.02, { dtype: 'float64' });
    assert.equal(a.dtype, 'float64');
    assert.deepEqual(values(a), values(b));
    const reference = new Rng(5);
    assert.deepEqual(values(a).slice(0, 3), [
      reference.normal() * 0.02,
      reference.normal() * 0.02,
      reference.normal() * 0.02,
    ]);
    const u = values(ops.uniform([200], new Rng(6), -2, 3));
    assert.ok(u.every((v) => v >= -2 && v < 3));
    assert.ok(Math.min(...u) < -1.9 && Math.max(...u) > 2.9);
  });
});
