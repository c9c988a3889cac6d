/** Memory scopes: temporaries freed, results and kept tensors moved out, cleanup on errors, views. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { liveTensorCount, scope, scopeAsync, type Tensor } from '../../src/tensor/tensor.js';
import { f64, values } from '../helpers/tensors.js';

describe('scope', () => {
  test('frees every temporary and keeps the returned tensor', () => {
    const before = liveTensorCount();
    const x = f64([1, 2, 3]);
    const y = scope(() => ops.sum(ops.mul(ops.exp(x), ops.add(x, 1))));
    assert.equal(liveTensorCount(), before + 2, 'x and the result');
    assert.equal(y.isDisposed, false);
    assert.ok(Math.abs(y.itemSync() - (2 * Math.E + 3 * Math.E ** 2 + 4 * Math.E ** 3)) < 1e-12);
    x.dispose();
    y.dispose();
    assert.equal(liveTensorCount(), before);
  });

  test('returned tensors in arrays, objects and maps survive; nested results move to the parent', () => {
    const before = liveTensorCount();
    let inner: Tensor | null = null;
    const result = scope(() => {
      const a = f64([1]);
      inner = scope(() => ops.add(a, 1));
      assert.equal(inner.isDisposed, false);
      return { list: [ops.mul(a, 2)], map: new Map([['k', ops.mul(a, 3)]]) };
    });
    assert.equal(inner!.isDisposed, true, 'the nested result was not returned by the outer scope');
    assert.deepEqual(values(result.list[0]!), [2]);
    assert.deepEqual(values(result.map.get('k')!), [3]);
    assert.equal(liveTensorCount(), before + 2);
    result.list[0]!.dispose();
    result.map.get('k')!.dispose();
  });

  test('kept tensors survive and parameters are kept', () => {
    const before = liveTensorCount();
    const [kept, param] = scope(() => {
      const k = f64([1, 2]).keep();
      const p = ops.parameter(f64([3]));
      f64([4]);
      return [k, p] as const;
    });
    assert.equal(kept.isDisposed, false);
    assert.equal(param.isKept, true);
    assert.equal(liveTensorCount(), before + 2);
    kept.dispose();
    param.dispose();
  });

  test('a scope that throws frees what it made (kept tensors survive)', () => {
    const before = liveTensorCount();
    let temp: Tensor | null = null;
    let kept: Tensor | null = null;
    assert.throws(
      () =>
        scope(() => {
          temp = ops.exp(f64([1, 2]));
          kept = f64([5]).keep();
          ops.matmul(temp, temp);
        }),
      /matmul needs rank >= 2/,
    );
    assert.equal(temp!.isDisposed, true);
    assert.equal(kept!.isDisposed, false);
    assert.equal(liveTensorCount(), before + 1);
    kept!.dispose();
    // The scope stack is intact: a following scope still frees its temporaries.
    scope(() => ops.exp(f64([1])) && null);
    assert.equal(liveTensorCount(), before);
  });

  test('scopeAsync frees temporaries, also on rejection', async () => {
    const before = liveTensorCount();
    const y = await scopeAsync(async () => {
      const t = ops.exp(f64([0, 1]));
      const host = await t.data();
      return ops.mul(t, host[1]!);
    });
    assert.equal(liveTensorCount(), before + 1);
    y.dispose();
    await assert.rejects(
      scopeAsync(async () => {
        ops.exp(f64([1]));
        await Promise.resolve();
        throw new Error('async failure');
      }),
      /async failure/,
    );
    assert.equal(liveTensorCount(), before);
  });

  test('a training step in a scope leaves only the parameter gradients alive', () => {
    const w = ops.parameter(f64([0.5, -0.5, 1, 2], [2, 2]));
    const before = liveTensorCount();
    for (let step = 0; step < 3; step++) {
      scope(() => {
        const x = f64([1, 2, 3, 4], [2, 2]);
        const loss = ops.crossEntropy(ops.matmul(x, w), ops.tensor(Int32Array.from([0, 1])));
        ops.backward(loss);
      });
      assert.equal(liveTensorCount(), before + 1, `step ${step}: only w.grad survives`);
    }
    w.grad!.dispose();
    w.dispose();
  });
});

describe('tensor lifetime', () => {
  test('a view keeps the shared storage alive; each tensor is counted once', () => {
    const before = liveTensorCount();
    const base = f64([1, 2, 3, 4]);
    const view = ops.reshape(base, [2, 2]);
    assert.equal(liveTensorCount(), before + 2);
    base.dispose();
    base.dispose();
    assert.equal(liveTensorCount(), before + 1, 'dispose is idempotent');
    assert.deepEqual(values(view), [1, 2, 3, 4]);
    view.dispose();
    assert.equal(liveTensorCount(), before);
  });

  test('use after dispose names the tensor', () => {
    const t = f64([1, 2]);
    t.name = 'wte';
    t.dispose();
    assert.equal(t.isDisposed, true);
    assert.throws(() => t.dataSync(), /tensor 'wte' \[2\] float64 was used after it was disposed/);
    assert.throws(() => ops.exp(t), /was used after it was disposed/);
  });
});
