/** Training on the WebGPU backend: the same losses as the cpu backend, checkpoints, resume on the GPU. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { findBackend } from '../../src/backend/backend.js';
import { defineConfig } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';
import { Trainer, type TrainOptions } from '../../src/train/trainer.js';
import { assertClose } from '../helpers/assert-close.js';
import { requireWebGPU } from '../webgpu/setup.js';

const gpu = await requireWebGPU();

if (gpu) {
  const scratch = mkdtempSync(join(tmpdir(), 'slmkit-gpu-train-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const config = defineConfig({
    vocabSize: 32,
    hiddenSize: 32,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 48,
    maxPositionEmbeddings: 32,
  });
  const ids = Int32Array.from({ length: 1500 }, (_, i) => (i % 37 === 36 ? 0 : 1 + ((i * 7) % 11)));
  const options: Partial<TrainOptions> = {
    steps: 6,
    batchSize: 4,
    seqLen: 16,
    warmup: 2,
    lr: 1e-2,
    gradAccum: 2,
    evalEvery: 3,
    evalBatches: 1,
    saveEvery: 3,
  };

  test('webgpu training matches cpu training and resumes from its own checkpoint', async () => {
    const cpu = await new Trainer({
      model: Transformer.init(config, { seed: 1, backend: findBackend('cpu')! }),
      train: ids,
      validation: ids.subarray(0, 300),
      options,
    }).run();
    const outDir = join(scratch, 'gpu');
    const controller = new AbortController();
    const first = await new Trainer({
      model: Transformer.init(config, { seed: 1, backend: gpu }),
      train: ids,
      validation: ids.subarray(0, 300),
      options: { ...options, outDir },
      signal: controller.signal,
      progress: { step: (r) => r.step === 3 && controller.abort(), log() {}, finish() {} },
    }).run();
    assert.equal(first.step, 3);
    const resumed = Trainer.fromCheckpoint(outDir, {
      train: ids,
      validation: ids.subarray(0, 300),
      backend: gpu,
    });
    assert.equal(resumed.model.backend, gpu);
    const rest = await resumed.run();
    const losses = (r: typeof cpu) => r.lossHistory.map((x) => x.loss);
    assertClose(losses(rest), losses(cpu), { atol: 1e-4, rtol: 1e-4, message: 'webgpu vs cpu losses' });
    assertClose(
      rest.evalHistory.map((e) => e.loss),
      cpu.evalHistory.map((e) => e.loss),
      { atol: 1e-4, rtol: 1e-4, message: 'validation losses' },
    );
  });
}
