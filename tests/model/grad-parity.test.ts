/**
 * Gradients of the mean next-token cross-entropy equal PyTorch autograd's (fixtures from
 * tools/fixtures/make_hf_fixtures.py: transformers, float32) for a Llama, a gated-GELU (Gemma) and an
 * MLA + MoE (DeepSeek-V2) model.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importParameters, loadHFModel } from '../../src/io/hf.js';
import type { TensorReader } from '../../src/io/index.js';
import { openSafetensors } from '../../src/io/index.js';
import { backward, tensor } from '../../src/ops/index.js';
import { scope } from '../../src/tensor/tensor.js';

/** The reference file's `grad.<name>` entries seen as a checkpoint with the plain names. */
function gradientReader(file: TensorReader): TensorReader {
  const prefix = 'grad.';
  return {
    metadata: {},
    names: () =>
      file
        .names()
        .filter((n) => n.startsWith(prefix))
        .map((n) => n.slice(prefix.length)),
    has: (name) => file.has(prefix + name),
    info: (name) => file.info(prefix + name),
    readRaw: (name) => file.readRaw(prefix + name),
    readFloat32: (name) => file.readFloat32(prefix + name),
    readInt32: (name) => file.readInt32(prefix + name),
    close: () => file.close(),
  };
}

for (const name of ['llama', 'gemma', 'deepseek_v2']) {
  test(`loss gradients equal PyTorch autograd: ${name}`, async (t) => {
    const dir = `tests/fixtures/hf/${name}`;
    const { model, config, family } = await loadHFModel(dir, { dtype: 'float64' });
    const ref = openSafetensors(`${dir}/reference.safetensors`);
    const ids = Array.from(ref.readInt32('input_ids'));
    // transformers shifts labels: position t predicts token t + 1; the last position has no target.
    const targets = tensor(Int32Array.from([...ids.slice(1), -100]), [1, ids.length]);
    model.requireGrad();
    const loss = scope(() => {
      const l = model.loss([ids], targets);
      backward(l);
      return l.itemSync();
    });
    const refLoss = ref.readFloat32('loss')[0]!;
    assert.ok(Math.abs(loss - refLoss) <= 1e-5 * Math.abs(refLoss), `loss ${loss} vs ${refLoss}`);
    const expected = importParameters(gradientReader(ref), config, family);
    let worst = 0;
    for (const [path, want] of expected) {
      const got = model.params.get(path)!.grad!.dataSync();
      let scale = 0;
      let err = 0;
      for (let i = 0; i < want.length; i++) {
        scale = Math.max(scale, Math.abs(want[i]!));
        err = Math.max(err, Math.abs(got[i]! - want[i]!));
      }
      const relative = err / Math.max(scale, 1e-12);
      worst = Math.max(worst, relative);
      assert.ok(
        relative <= 1e-4,
        `${path}: max |grad − torch| = ${err} (${relative} of the tensor's max ${scale})`,
      );
    }
    assert.ok(expected.size === model.specs.length, 'every parameter compared');
    t.diagnostic(`worst relative gradient error ${worst.toExponential(2)}, loss ${loss} vs ${refLoss}`);
    ref.close();
    model.dispose();
  });
}
