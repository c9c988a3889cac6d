/** The training loop: loss falls, resume is exact, a crash mid-checkpoint leaves the previous one. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';
import { listCheckpoints, loadCheckpoint } from '../../src/train/checkpoint.js';
import { readModelDir } from '../../src/train/model-files.js';
import type { ProgressSink, StepReport } from '../../src/train/progress.js';
import { Trainer, type TrainOptions } from '../../src/train/trainer.js';
import { assertClose } from '../helpers/assert-close.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-trainer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const config = defineConfig({
  vocabSize: 32,
  hiddenSize: 32,
  numLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 48,
  maxPositionEmbeddings: 32,
  eosTokenIds: [0],
});

/** Documents that repeat a short pattern: learnable in a few dozen steps. */
function corpus(length: number, seed: number): Int32Array {
  const ids = new Int32Array(length);
  for (let i = 0; i < length; i++) ids[i] = i % 37 === 36 ? 0 : 1 + ((i * 7 + seed) % 11);
  return ids;
}

const base: Partial<TrainOptions> = {
  batchSize: 4,
  seqLen: 16,
  lr: 1e-2,
  warmup: 2,
  evalEvery: 0,
  evalBatches: 2,
  saveEvery: 0,
  seed: 3,
};

function recorder(): ProgressSink & { reports: StepReport[]; messages: string[] } {
  const reports: StepReport[] = [];
  const messages: string[] = [];
  return { reports, messages, step: (r) => reports.push(r), log: (m) => messages.push(m), finish() {} };
}

test('the loss falls on a tiny model; progress reports tokens/s and MFU; evaluation runs', async () => {
  const progress = recorder();
  const trainer = new Trainer({
    model: Transformer.init(config, { seed: 1 }),
    train: corpus(2000, 0),
    validation: corpus(400, 5),
    options: { ...base, steps: 30, gradAccum: 2, clip: 1, evalEvery: 15 },
    progress,
  });
  const result = await trainer.run();
  const losses = result.lossHistory.map((r) => r.loss);
  assert.equal(losses.length, 30);
  assert.ok(Math.abs(losses[0]! - Math.log(32)) < 0.3, `initial loss ${losses[0]} ≈ ln 32`);
  const tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail < 0.6 * losses[0]!, `loss fell from ${losses[0]} to ${tail}`);
  assert.equal(result.evalHistory.length, 2);
  assert.ok(result.evalHistory[1]!.loss < result.evalHistory[0]!.loss + 0.05);
  assert.ok(Math.abs(result.evalHistory[1]!.perplexity - Math.exp(result.evalHistory[1]!.loss)) < 1e-9);
  assert.ok(result.tokensPerSecond > 0 && result.mfu > 0);
  assert.equal(progress.reports.at(-1)!.step, 30);
  assert.ok(progress.messages.some((m) => m.includes('validation loss')));
});

test('resuming from a checkpoint gives exactly the losses of an uninterrupted run (dropout on)', async () => {
  const options = { ...base, steps: 8, gradAccum: 2, schedule: 'wsd' as const, clip: 0.5, dropout: 0.1 };
  const straight = await new Trainer({
    model: Transformer.init(config, { seed: 2 }),
    train: corpus(1200, 1),
    options: { ...options, outDir: null },
  }).run();

  const outDir = join(scratch, 'resume');
  // First run: stopped by an abort after step 3, which saves a checkpoint (the Ctrl-C path).
  const controller = new AbortController();
  const first = new Trainer({
    model: Transformer.init(config, { seed: 2 }),
    train: corpus(1200, 1),
    options: { ...options, outDir },
    signal: controller.signal,
    progress: { step: (r) => r.step === 3 && controller.abort(), log() {}, finish() {} },
  });
  const partial = await first.run();
  assert.equal(partial.interrupted, true);
  assert.equal(partial.step, 3);
  assert.deepEqual(
    listCheckpoints(outDir).map(([step]) => step),
    [3],
  );

  const resumed = Trainer.fromCheckpoint(outDir, { train: corpus(1200, 1) });
  assert.equal(resumed.step, 3);
  const rest = await resumed.run();
  assert.equal(rest.step, 8);
  assert.deepEqual(
    rest.lossHistory.map((r) => r.loss),
    straight.lossHistory.map((r) => r.loss),
  );
  assert.deepEqual(
    rest.lossHistory.map((r) => r.gradNorm),
    straight.lossHistory.map((r) => r.gradNorm),
  );
  // The final model is an HF directory at the top of outDir, plus the last checkpoints.
  for (const file of ['config.json', 'model.safetensors', 'generation_config.json', 'slmkit_config.json'])
    assert.ok(existsSync(join(outDir, file)), file);
  const hf = JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8'));
  assert.equal(hf.model_type, 'llama');
  assert.equal(hf.num_key_value_heads, 2);
  assert.deepEqual(
    listCheckpoints(outDir).map(([step]) => step),
    [3, 8],
  );
});

test('a crash while writing a checkpoint leaves the previous checkpoint complete and loadable', async () => {
  const outDir = join(scratch, 'crash');
  const trainer = new Trainer({
    model: Transformer.init(config, { seed: 4 }),
    train: corpus(800, 2),
    options: { ...base, steps: 4, outDir },
  });
  await trainer.trainStep();
  await trainer.trainStep();
  const good = await trainer.saveCheckpoint();
  const goodWeights = readModelDir(good).params.get('model.layers.0.mlp.up_proj.weight')!.dataSync();
  await trainer.trainStep();

  let armed = true;
  const crashing = new Trainer({
    model: trainer.model,
    train: corpus(800, 2),
    options: { ...base, steps: 4, outDir },
    checkpointHooks: {
      onFileWritten: (file) => {
        if (armed && file === 'config.json') throw new Error('simulated crash');
      },
    },
  });
  crashing.step = 3;
  await assert.rejects(crashing.saveCheckpoint(), /simulated crash/);
  armed = false;
  assert.deepEqual(
    listCheckpoints(outDir).map(([step]) => step),
    [2],
  );
  assert.deepEqual(
    readdirSync(outDir).filter((f) => f.startsWith('.tmp')),
    [],
  );
  const loaded = loadCheckpoint(outDir);
  assert.equal(loaded.state.step, 2);
  assert.equal(loaded.optimizer.step, 2);
  assert.deepEqual(
    Array.from(loaded.model.params.get('model.layers.0.mlp.up_proj.weight')!.dataSync()),
    Array.from(goodWeights),
  );
  // The next save succeeds and then prunes to the newest `keepCheckpoints` (2).
  await crashing.saveCheckpoint();
  crashing.step = 4;
  await crashing.saveCheckpoint();
  assert.deepEqual(
    listCheckpoints(outDir).map(([step]) => step),
    [3, 4],
  );
});

test('gradient accumulation over 2 micro-batches of 2 equals one batch of 4', async () => {
  const run = async (batchSize: number, gradAccum: number) => {
    const trainer = new Trainer({
      model: Transformer.init(config, { seed: 6 }),
      train: corpus(1000, 3),
      options: { ...base, steps: 2, batchSize, gradAccum, clip: 0.1 },
    });
    const result = await trainer.run();
    return {
      result,
      weights: trainer.model.params.get('model.layers.1.self_attn.v_proj.weight')!.dataSync(),
    };
  };
  const whole = await run(4, 1);
  const split = await run(2, 2);
  assertClose(
    split.result.lossHistory.map((r) => r.loss),
    whole.result.lossHistory.map((r) => r.loss),
    { atol: 1e-5, message: 'losses' },
  );
  assertClose(
    split.result.lossHistory.map((r) => r.gradNorm),
    whole.result.lossHistory.map((r) => r.gradNorm),
    { atol: 1e-5, message: 'gradient norms' },
  );
  // Adam divides each gradient element by its own size (plus eps 1e-8): an element that cancels to
  // ~eps carries float32 rounding of a few percent, which moves its weight by up to ~lr·1e-3.
  assertClose(split.weights, whole.weights, { atol: 1e-5, message: 'weights after 2 steps' });
});

test('keepBest writes the weights of the lowest validation loss as the final model', async () => {
  const pattern = (length: number, mul: number) =>
    Int32Array.from({ length }, (_, i) => 1 + ((i * mul + 1) % 13));
  // Validation text of another pattern: its loss falls at first, then rises as the model specialises.
  const validation = pattern(300, 5);
  const outDir = join(scratch, 'best');
  const result = await new Trainer({
    model: Transformer.init(config, { seed: 1 }),
    train: pattern(600, 7),
    validation,
    options: { ...base, steps: 12, lr: 2e-2, warmup: 1, evalEvery: 3, keepBest: true, outDir },
  }).run();
  const losses = result.evalHistory.map((e) => e.loss);
  const bestIndex = losses.indexOf(Math.min(...losses));
  assert.ok(bestIndex < losses.length - 1, `the best evaluation is not the last: ${losses}`);
  assert.equal(result.bestStep, result.evalHistory[bestIndex]!.step);
  const score = (model: Transformer) =>
    new Trainer({ model, train: pattern(600, 7), validation, options: base }).evaluate();
  assert.ok(Math.abs((await score(readModelDir(outDir)))!.loss - losses[bestIndex]!) < 1e-5);
  const last = readModelDir(join(outDir, 'checkpoint-12'));
  assert.ok(Math.abs((await score(last))!.loss - losses.at(-1)!) < 1e-5);
});

test('bad options and data are refused with the problem named', () => {
  const model = Transformer.init(config);
  assert.throws(
    () => new Trainer({ model, train: corpus(500, 0), options: { ...base, seqLen: 64 } }),
    /seqLen 64 exceeds the model's context of 32/,
  );
  assert.throws(
    () => new Trainer({ model, train: Int32Array.from([1, 2, 99, 3]), options: { ...base, seqLen: 2 } }),
    /token id 99, outside the model's vocabulary of 32/,
  );
  assert.throws(
    () => new Trainer({ model, train: corpus(500, 0), options: { ...base, gradAccum: 0 } }),
    /gradAccum/,
  );
});
