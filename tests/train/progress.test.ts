/** The progress display (terminal vs plain lines) and the FLOPs/MFU arithmetic. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';
import {
  formatDuration,
  ProgressBar,
  type StepReport,
  trainingFlopsPerToken,
} from '../../src/train/progress.js';

const report = (step: number): StepReport => ({
  step,
  totalSteps: 30,
  loss: 2.5,
  lr: 1e-3,
  gradNorm: 0.5,
  tokensPerSecond: 12_345,
  mfu: 0.0123,
  etaSeconds: 75,
});

test('on a terminal the line is redrawn in place; otherwise plain lines every N steps', () => {
  const tty: string[] = [];
  const bar = new ProgressBar({ write: (t: string) => tty.push(t), isTTY: true, columns: 200 }, 10);
  bar.step(report(1));
  bar.step(report(2));
  bar.log('saved x');
  bar.finish();
  assert.ok(tty[0]!.startsWith('\r\x1b[2K[#') && !tty[0]!.endsWith('\n'));
  assert.match(
    tty[0]!,
    /step {2}1\/30 {2}loss 2\.5000 {2}lr 1\.00e-3 .* 12\.3k tok\/s {2}MFU 1\.23% {2}ETA 1m15s/,
  );
  assert.deepEqual(tty.slice(2), ['\r\x1b[2K', 'saved x\n']);

  const plain: string[] = [];
  const lines = new ProgressBar({ write: (t: string) => plain.push(t) }, 10);
  for (let s = 1; s <= 30; s++) lines.step(report(s));
  assert.deepEqual(
    plain.map((l) => /^step +\d+\/30/.exec(l)?.[0]),
    ['step  1/30', 'step 10/30', 'step 20/30', 'step 30/30'],
  );
  assert.ok(plain.every((l) => l.endsWith('\n') && !l.includes('\r')));
  assert.equal(formatDuration(3725), '1h02m');
});

test('training FLOPs per token: 6 × matmul parameters + 12·L·H·Q·T', () => {
  const config = defineConfig({
    vocabSize: 100,
    hiddenSize: 16,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 32,
  });
  // Per layer: q 16·16, k 8·16, v 8·16, o 16·16, gate/up/down 3·32·16; head (tied) 100·16.
  const perLayer = 256 + 128 + 128 + 256 + 3 * 512;
  const matmul = 2 * perLayer + 1600;
  assert.equal(trainingFlopsPerToken(Transformer.init(config), 64), 6 * matmul + 12 * 2 * 4 * 4 * 64);
});
