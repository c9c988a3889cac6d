/** Finite-difference check of a whole model's loss gradient (float64, cpu). */
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/config/model-config.js';
import { type ForwardOptions, Transformer } from '../../src/model/transformer.js';
import { backward, noGrad, tensor } from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { scope } from '../../src/tensor/tensor.js';

export interface ModelGradcheckOptions {
  seqLen?: number;
  batch?: number;
  seed?: number;
  /** Parameter entries checked per tensor. */
  entriesPerTensor?: number;
  atol?: number;
  rtol?: number;
  /** Forward options of the loss (e.g. a fixed dropout mask). */
  lossOptions?: ForwardOptions;
}

/** Builds a float64 model with every parameter perturbed, and compares dL/dθ with central differences. */
export function checkModelGradients(
  config: ModelConfig,
  options: ModelGradcheckOptions = {},
): { checked: number; maxError: number } {
  const {
    seqLen = 7,
    batch = 2,
    seed = 3,
    entriesPerTensor = 1,
    atol = 1e-7,
    rtol = 1e-5,
    lossOptions = {},
  } = options;
  const rng = new Rng(seed);
  const model = Transformer.init(config, { seed, dtype: 'float64' });
  // Perturb every parameter so no bias is zero and no norm weight is one.
  for (const t of model.parameters()) {
    const data = t.dataSync() as Float64Array;
    for (let i = 0; i < data.length; i++) data[i]! += 0.1 * rng.normal();
    t.backend.copyInto(t.info(), tensor(data, t.shape).info());
  }
  model.requireGrad();
  const ids = Array.from({ length: batch }, () =>
    Array.from({ length: seqLen }, () => rng.int(config.vocabSize)),
  );
  const targets = tensor(Int32Array.from(ids.flat().map((_, i) => (i * 7 + 3) % config.vocabSize)), [
    batch,
    seqLen,
  ]);
  const lossValue = () => noGrad(() => scope(() => model.loss(ids, targets, -100, lossOptions).itemSync()));
  scope(() => {
    backward(model.loss(ids, targets, -100, lossOptions));
  });
  let checked = 0;
  let maxError = 0;
  const eps = 1e-5;
  for (const spec of model.specs) {
    const param = model.params.get(spec.path)!;
    const grad = param.grad?.dataSync();
    assert.ok(grad, `parameter ${spec.path} received no gradient`);
    const storage = param.storage as Float64Array;
    for (let e = 0; e < entriesPerTensor; e++) {
      const i = rng.int(param.size);
      const original = storage[i]!;
      storage[i] = original + eps;
      const plus = lossValue();
      storage[i] = original - eps;
      const minus = lossValue();
      storage[i] = original;
      const numeric = (plus - minus) / (2 * eps);
      const error = Math.abs(grad[i]! - numeric);
      maxError = Math.max(maxError, error);
      assert.ok(
        error <= atol + rtol * Math.abs(numeric),
        `${spec.path}[${i}]: analytic ${grad[i]} vs numeric ${numeric} (error ${error.toExponential(2)})`,
      );
      checked++;
    }
  }
  model.dispose();
  return { checked, maxError };
}
