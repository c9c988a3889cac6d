/**
 * Parity with PyTorch transformers on the tiny random checkpoints of tests/fixtures/hf (made by
 * tools/fixtures/make_hf_fixtures.py): logits and per-layer hidden states of the same input ids, the
 * greedy continuation, and a save -> load round trip that reproduces the checkpoint bit for bit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import '../../src/backend/cpu/index.js';
import { loadHFModel, saveHFModel } from '../../src/io/hf.js';
import { openSafetensors } from '../../src/io/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { argmaxRow, FIXTURES, fixtureEntries, maxAbsDiff, scratchDir } from './helpers.js';

const LOGIT_TOLERANCE = 1e-4;
const HIDDEN_TOLERANCE = 1e-4;

for (const entry of fixtureEntries()) {
  const dir = join(FIXTURES, entry.name);

  test(`${entry.name}: logits and hidden states match transformers (${entry.about})`, async () => {
    const { model, family } = await loadHFModel(dir);
    assert.equal(family.modelType, entry.model_type);
    const ref = openSafetensors(join(dir, 'reference.safetensors'));
    const ids = Array.from(ref.readInt32('input_ids'));
    const T = ids.length;
    const vocab = model.config.vocabSize;
    const d = model.config.hiddenSize;

    const logits = model.forward(ids).dataSync();
    const want = ref.readFloat32('logits');
    assert.equal(logits.length, T * vocab);
    const logitError = maxAbsDiff(logits, want);
    assert.ok(logitError <= LOGIT_TOLERANCE, `max |logit - reference| = ${logitError}`);

    // HF's hidden_states: the embedding output, the output of layers 0..L-2, then the final-normed output.
    const states: Tensor[] = [];
    const final = model.hidden(ids, { hiddenStates: states }).dataSync();
    const hidden = ref.readFloat32('hidden_states');
    const L = entry.num_layers;
    assert.equal(hidden.length, (L + 1) * T * d);
    assert.equal(states.length, L + 1);
    for (let l = 0; l < L; l++) {
      const err = maxAbsDiff(states[l]!.dataSync(), hidden, 0, l * T * d, T * d);
      assert.ok(err <= HIDDEN_TOLERANCE, `hidden state ${l}: max error ${err}`);
    }
    const err = maxAbsDiff(final, hidden, 0, L * T * d, T * d);
    assert.ok(err <= HIDDEN_TOLERANCE, `final-normed hidden state: max error ${err}`);
    ref.close();
  });

  test(`${entry.name}: greedy continuation matches transformers' generate`, async () => {
    const { model } = await loadHFModel(dir);
    const ref = openSafetensors(join(dir, 'reference.safetensors'));
    const want = Array.from(ref.readInt32('generated_ids'));
    const prompt = Number(ref.metadata.prompt_len);
    ref.close();
    const ids = want.slice(0, prompt);
    const vocab = model.config.vocabSize;
    while (ids.length < want.length) {
      const logits = model.forward(ids).dataSync();
      ids.push(argmaxRow(logits, ids.length - 1, vocab));
    }
    assert.deepEqual(ids, want);
  });

  test(`${entry.name}: save -> load reproduces config and checkpoint bit for bit`, async () => {
    const loaded = await loadHFModel(dir);
    const out = join(scratchDir(), entry.name);
    saveHFModel(out, loaded.model, { family: loaded.family, generationConfig: loaded.generationConfig });
    const again = await loadHFModel(out);
    assert.deepEqual(again.config, loaded.config);
    assert.deepEqual(again.generationConfig, loaded.generationConfig);
    for (const [path, t] of loaded.model.params) {
      assert.deepEqual(again.model.params.get(path)!.dataSync(), t.dataSync(), path);
    }
    // The saved file holds the same tensors, under the same names and layouts, as the transformers file.
    const original = openSafetensors(join(dir, 'model.safetensors'));
    const saved = openSafetensors(join(out, 'model.safetensors'));
    assert.deepEqual(saved.names().sort(), original.names().sort());
    for (const name of original.names()) {
      assert.deepEqual(saved.info(name).shape, original.info(name).shape, name);
      assert.deepEqual(saved.readRaw(name).bytes, original.readRaw(name).bytes, name);
    }
    original.close();
    saved.close();
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.model_type, entry.model_type);
  });
}
