/**
 * Random weights fast enough for benchmarks of real shapes: every matrix is a window, at a seeded
 * random offset, into one block of 2^22 N(0, initializerRange²) deviates (drawing a deviate per element
 * on the host runs at ~12M/s: a minute for Qwen2.5-0.5B, two for Llama-3.2-1B). Norm weights are ones,
 * biases zeros, as `Transformer.init` makes them. Timing does not depend on the values; use
 * `Transformer.init` where the statistics matter (training, tests).
 */
import type { Backend } from '../backend/backend.js';
import type { ModelConfig } from '../config/model-config.js';
import { tensor } from '../ops/index.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { parameterSpecs } from './params.js';
import { Transformer } from './transformer.js';

const blockSize = 1 << 22;

export function benchmarkModel(config: ModelConfig, backend: Backend, seed = 0): Transformer {
  const rng = new Rng(seed);
  const block = new Float32Array(blockSize);
  for (let i = 0; i < block.length; i++) block[i] = rng.normal() * config.initializerRange;
  const params = new Map<string, Tensor>();
  for (const spec of parameterSpecs(config)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (spec.init === 'ones' || spec.init === 'scalar_one') data.fill(1);
    else if (spec.init !== 'zeros') {
      for (let at = 0; at < size; ) {
        const from = Math.floor(rng.uniform() * (blockSize / 2));
        const n = Math.min(size - at, blockSize - from);
        data.set(block.subarray(from, from + n), at);
        at += n;
      }
    }
    const t = tensor(data, spec.shape, { backend });
    t.name = spec.path;
    params.set(spec.path, t.keep());
  }
  return new Transformer(config, params);
}
