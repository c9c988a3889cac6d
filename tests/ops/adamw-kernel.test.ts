/** The AdamW kernel of the backend contract against the update written out by hand (Loshchilov & Hutter). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose } from '../helpers/gradcheck.js';
import { f64, normals, values } from '../helpers/tensors.js';

test('three AdamW steps update param, m and v in place with bias correction and decoupled decay', () => {
  const rng = new Rng(1);
  const attrs = { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
  let p = normals(rng, 6);
  let m = new Array<number>(6).fill(0);
  let v = new Array<number>(6).fill(0);
  const param = f64(p);
  const mt = f64(m);
  const vt = f64(v);
  for (let step = 1; step <= 3; step++) {
    const g = normals(rng, 6);
    const outputs = ops.runKernel('adamw', [param, f64(g), mt, vt], { ...attrs, step }, []);
    assert.equal(outputs.length, 0);
    m = m.map((mi, i) => attrs.beta1 * mi + (1 - attrs.beta1) * g[i]!);
    v = v.map((vi, i) => attrs.beta2 * vi + (1 - attrs.beta2) * g[i]! ** 2);
    p = p.map((pi, i) => {
      const mHat = m[i]! / (1 - attrs.beta1 ** step);
      const vHat = v[i]! / (1 - attrs.beta2 ** step);
      return pi - attrs.lr * (mHat / (Math.sqrt(vHat) + attrs.eps) + attrs.weightDecay * pi);
    });
    assertClose(values(param), p, { atol: 1e-15, rtol: 1e-14, message: `param after step ${step}` });
    assertClose(values(mt), m, { atol: 1e-15, rtol: 1e-14, message: `m after step ${step}` });
    assertClose(values(vt), v, { atol: 1e-15, rtol: 1e-14, message: `v after step ${step}` });
  }
});
