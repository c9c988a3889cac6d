/** AdamW against a hand-computed step, weight-decay groups, clipping, accumulation and its state. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';
import { tensor } from '../../src/ops/index.js';
import { AdamW, decayGroups } from '../../src/train/optimizer.js';
import { assertClose } from '../helpers/assert-close.js';

function param(values: number[], shape: number[], grad: number[]) {
  const p = tensor(Float64Array.from(values), shape).keep();
  p.requiresGrad = true;
  p.grad = tensor(Float64Array.from(grad), shape).keep();
  return p;
}

/** The PyTorch AdamW update written out for one element. */
function reference(p: number, g: number, m: number, v: number, t: number, o: { lr: number; wd: number }) {
  const [b1, b2, eps] = [0.9, 0.95, 1e-8];
  const m1 = b1 * m + (1 - b1) * g;
  const v1 = b2 * v + (1 - b2) * g * g;
  const decayed = p * (1 - o.lr * o.wd);
  const next = decayed - (o.lr * (m1 / (1 - b1 ** t))) / (Math.sqrt(v1 / (1 - b2 ** t)) + eps);
  return { p: next, m: m1, v: v1 };
}

test('an AdamW step equals the hand-computed update, decay only on the decayed group', async () => {
  const w = param([0.5, -1, 2, 0.25], [2, 2], [0.1, -0.2, 0.3, 0]);
  const b = param([1, -3], [2], [0.5, 0.05]);
  const opt = new AdamW(
    [
      { name: 'w', param: w, decay: true },
      { name: 'b', param: b, decay: false },
    ],
    { weightDecay: 0.1 },
  );
  const lr = 0.01;
  await opt.step({ lr });
  const wExpected = [0.5, -1, 2, 0.25].map((p, i) =>
    reference(p, [0.1, -0.2, 0.3, 0][i]!, 0, 0, 1, { lr, wd: 0.1 }),
  );
  const bExpected = [1, -3].map((p, i) => reference(p, [0.5, 0.05][i]!, 0, 0, 1, { lr, wd: 0 }));
  const tight = { atol: 1e-12, rtol: 0 };
  assertClose(
    w.dataSync(),
    wExpected.map((e) => e.p),
    { ...tight, message: 'w after step 1' },
  );
  assertClose(
    b.dataSync(),
    bExpected.map((e) => e.p),
    { ...tight, message: 'b after step 1 (no decay)' },
  );
  // Step 2 with the same gradient: bias correction uses t = 2 and the carried moments.
  await opt.step({ lr });
  const w2 = wExpected.map((s, i) => reference(s.p, [0.1, -0.2, 0.3, 0][i]!, s.m, s.v, 2, { lr, wd: 0.1 }));
  assertClose(
    w.dataSync(),
    w2.map((e) => e.p),
    { ...tight, message: 'w after step 2' },
  );
  const state = await opt.state();
  assert.equal(state.step, 2);
  assertClose(
    state.m.get('w')!,
    w2.map((e) => e.m),
    { atol: 1e-15, rtol: 0, message: 'm' },
  );
});

test('clipping scales the averaged gradient to the clip norm; accumulation divides by micro-batches', async () => {
  // g = (3, 4) summed over 2 micro-batches: average (1.5, 2), norm 2.5; clip 1 scales by 0.4.
  const w = param([0, 0], [1, 2], [3, 4]);
  const opt = new AdamW([{ name: 'w', param: w, decay: true }], { weightDecay: 0 });
  assert.equal(await opt.gradNorm(), 5);
  const { gradNorm, gradScale } = await opt.step({ lr: 1, clip: 1, microBatches: 2 });
  assert.ok(Math.abs(gradNorm - 2.5) < 1e-12);
  assert.ok(Math.abs(gradScale - 0.2) < 1e-12);
  // First Adam step moves every coordinate by ≈ lr · sign(g), whatever the scale.
  assertClose(w.dataSync(), [-1, -1], { atol: 1e-6, message: 'first Adam step' });
  const m = (await opt.state()).m.get('w')!;
  assert.ok(Math.abs(m[0]! - 0.1 * 0.6) < 1e-12 && Math.abs(m[1]! - 0.1 * 0.8) < 1e-12);
  opt.zeroGrad();
  assert.equal(w.grad, null);
  assert.equal(await opt.gradNorm(), 0);
});

test('a diverged gradient is an error that says what to do', async () => {
  const w = param([0], [1, 1], [Number.NaN]);
  const opt = new AdamW([{ name: 'w', param: w, decay: true }]);
  await assert.rejects(opt.step({ lr: 0.1 }), /diverged.*--lr/);
});

test('decay groups: matrices decay, norms, biases and vectors do not', () => {
  const config = defineConfig({
    vocabSize: 16,
    hiddenSize: 8,
    numLayers: 1,
    numAttentionHeads: 2,
    intermediateSize: 8,
    attentionBias: true,
    qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: true, bias: false },
  });
  const model = Transformer.init(config);
  const groups = new Map(decayGroups(model.specs, model.params).map((g) => [g.name, g.decay]));
  assert.equal(groups.get('model.embed_tokens.weight'), true);
  assert.equal(groups.get('model.layers.0.self_attn.q_proj.weight'), true);
  assert.equal(groups.get('model.layers.0.self_attn.q_proj.bias'), false);
  assert.equal(groups.get('model.layers.0.input_layernorm.weight'), false);
  // A per-head q-norm weight is rank 2 but still a norm.
  assert.equal(groups.get('model.layers.0.self_attn.q_norm.weight'), false);
  assert.equal(groups.get('model.norm.weight'), false);
});

test('loadState restores moments and step; a state of the wrong size is refused', async () => {
  const w = param([1, 2], [1, 2], [0.5, -0.5]);
  const opt = new AdamW([{ name: 'w', param: w, decay: true }]);
  await opt.step({ lr: 0.1 });
  const saved = await opt.state();
  const w2 = param([1, 2], [1, 2], [0.5, -0.5]);
  const opt2 = new AdamW([{ name: 'w', param: w2, decay: true }]);
  opt2.loadState(saved);
  assert.equal(opt2.stepCount, 1);
  assert.deepEqual(Array.from((await opt2.state()).v.get('w')!), Array.from(saved.v.get('w')!));
  const bad = { step: 1, m: new Map([['w', new Float64Array(3)]]), v: saved.v };
  assert.throws(() => opt2.loadState(bad), /'m' of 'w' has 3 values, the parameter has 2/);
});
