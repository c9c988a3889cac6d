import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyMinP,
  applyRepetitionPenalty,
  applyTopK,
  applyTopP,
  selectToken,
} from '../../src/generate/sampling.js';
import { Rng } from '../../src/tensor/random.js';

test('repetition penalty divides positive and multiplies negative scores, once per id', () => {
  const s = Float32Array.from([2, -2, 1, 4]);
  applyRepetitionPenalty(s, [0, 1, 1, 1], 2);
  assert.deepEqual(Array.from(s), [1, -4, 1, 4]);
});

test('top-k keeps the k largest (ties at the threshold kept)', () => {
  const s = Float32Array.from([1, 3, 2, 3, 0]);
  applyTopK(s, 2);
  assert.deepEqual(Array.from(s), [-Infinity, 3, -Infinity, 3, -Infinity]);
});

test('top-p keeps the smallest set reaching p, including the crossing token', () => {
  // probabilities ∝ exp(log p): 0.5, 0.3, 0.15, 0.05
  const s = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
  applyTopP(s, 0.7);
  assert.deepEqual(
    Array.from(s).map((v) => v > -Infinity),
    [true, true, false, false],
  );
  const t = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
  applyTopP(t, 0.85);
  assert.deepEqual(
    Array.from(t).map((v) => v > -Infinity),
    [true, true, true, false],
  );
});

test('min-p drops tokens below min_p times the top probability', () => {
  const s = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
  applyMinP(s, 0.4);
  assert.deepEqual(
    Array.from(s).map((v) => v > -Infinity),
    [true, true, false, false],
  );
});

test('greedy is the argmax after the repetition penalty; sampling is seeded and follows the distribution', () => {
  assert.equal(selectToken(Float32Array.from([1, 5, 4]), [1], { repetitionPenalty: 2 }, new Rng(0)), 2);
  const counts = [0, 0, 0];
  const rng = new Rng(42);
  for (let i = 0; i < 6000; i++)
    counts[selectToken(Float32Array.from([0, Math.log(2), Math.log(3)]), [], { temperature: 1 }, rng)]!++;
  const expected = [1000, 2000, 3000];
  for (const [i, c] of counts.entries()) {
    assert.ok(Math.abs(c - expected[i]!) < 200, `token ${i}: ${c} draws, expected ≈ ${expected[i]}`);
  }
  const a = selectToken(Float32Array.from([0.1, 0.2, 0.3, 0.4]), [], { temperature: 0.7 }, new Rng(7));
  const b = selectToken(Float32Array.from([0.1, 0.2, 0.3, 0.4]), [], { temperature: 0.7 }, new Rng(7));
  assert.equal(a, b);
});
