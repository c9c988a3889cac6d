import assert from 'node:assert/strict';
import { test } from 'node:test';
import { learningRate, type ScheduleOptions, validateSchedule } from '../../src/train/schedule.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('cosine: linear warmup, peak at the end of warmup, half-way value, min at the last step', () => {
  const s: ScheduleOptions = { kind: 'cosine', peakLR: 1e-3, minLR: 1e-4, warmupSteps: 10, totalSteps: 110 };
  close(learningRate(1, s), 1e-4);
  close(learningRate(5, s), 5e-4);
  close(learningRate(10, s), 1e-3);
  close(learningRate(60, s), 1e-4 + 0.5 * 9e-4); // cos(π/2) = 0
  close(learningRate(35, s), 1e-4 + 0.5 * 9e-4 * (1 + Math.cos(Math.PI / 4)));
  close(learningRate(110, s), 1e-4);
  close(learningRate(500, s), 1e-4);
});

test('wsd: warmup, stable at the peak, linear decay over the last fraction to the min', () => {
  const s: ScheduleOptions = {
    kind: 'wsd',
    peakLR: 2e-3,
    minLR: 0,
    warmupSteps: 10,
    totalSteps: 100,
    decayFraction: 0.2,
  };
  close(learningRate(5, s), 1e-3);
  close(learningRate(10, s), 2e-3);
  close(learningRate(50, s), 2e-3);
  close(learningRate(80, s), 2e-3);
  close(learningRate(90, s), 1e-3);
  close(learningRate(100, s), 0);
});

test('constant schedule and no warmup', () => {
  const s: ScheduleOptions = { kind: 'constant', peakLR: 0.5, minLR: 0, warmupSteps: 0, totalSteps: 10 };
  close(learningRate(1, s), 0.5);
  close(learningRate(10, s), 0.5);
  const c: ScheduleOptions = { ...s, kind: 'cosine' };
  close(learningRate(1, c), (0.5 * (1 + Math.cos(Math.PI / 10))) / 2);
});

test('bad schedules are refused with the field named', () => {
  const s: ScheduleOptions = { kind: 'cosine', peakLR: 1e-3, minLR: 0, warmupSteps: 10, totalSteps: 100 };
  assert.throws(
    () => validateSchedule({ ...s, warmupSteps: 200 }),
    /warmup must be an integer in \[0, steps = 100\]/,
  );
  assert.throws(() => validateSchedule({ ...s, minLR: 1 }), /minLR/);
  assert.throws(() => validateSchedule({ ...s, kind: 'linear' as never }), /schedule must be one of/);
});
