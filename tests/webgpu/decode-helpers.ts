/** Shared by the decode-*.test.ts files: a cpu model with its webgpu twin, and cpu greedy decoding. */
import assert from 'node:assert/strict';
import type { WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import type { DecodePlan } from '../../src/generate/decode-plan.js';
import { Transformer } from '../../src/model/transformer.js';
import { slice, tensor } from '../../src/ops/index.js';
import { scope } from '../../src/tensor/tensor.js';
import { cpu } from './setup.js';

/** A cpu model and the same weights on webgpu. */
export function modelPair(
  backend: WebGPUBackend,
  config: ModelConfigInput,
  seed: number,
): { cpuModel: Transformer; gpuModel: Transformer } {
  const cpuModel = Transformer.init(defineConfig({ initializerRange: 0.2, ...config }), {
    seed,
    backend: cpu(),
  });
  const params = new Map(
    [...cpuModel.params].map(([path, t]) => [
      path,
      tensor(Float32Array.from(t.dataSync()), t.shape, { backend }).keep(),
    ]),
  );
  return { cpuModel, gpuModel: new Transformer(cpuModel.config, params) };
}

/** Greedy decoding on the cpu: the logits of every generated position and the tokens. */
export function cpuGreedy(
  model: Transformer,
  prompt: number[],
  steps: number,
): { tokens: number[]; logits: Float32Array[] } {
  const cache = model.newCache(prompt.length + steps);
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  let input = prompt;
  for (let s = 0; s <= steps; s++) {
    const row = scope(() => {
      const out = model.forward([input], { cache });
      return Float32Array.from(slice(out, 1, input.length - 1, input.length).dataSync());
    });
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
    logits.push(row);
    tokens.push(best);
    input = [best];
  }
  return { tokens, logits };
}

/**
 * Greedy decoding through `plan` after prefilling `prompt`, every step's logits read back: asserts the
 * tokens equal `expected` (cpuGreedy over the same prompt) and the logits are within 1e-4.
 */
export async function assertPlanMatchesCpu(
  plan: DecodePlan,
  prompt: number[],
  expected: { tokens: number[]; logits: Float32Array[] },
): Promise<void> {
  const steps = expected.tokens.length - 1;
  const first = await plan.prefill(prompt);
  const tokens = [first.token];
  let worst = 0;
  for (let s = 1; s <= steps; s++) {
    const r = await plan.step(s === 1 ? first.token : undefined, { logits: true });
    for (let i = 0; i < r.logits!.length; i++)
      worst = Math.max(worst, Math.abs(r.logits![i]! - expected.logits[s]![i]!));
    tokens.push(r.token);
  }
  assert.deepEqual(tokens, expected.tokens);
  assert.ok(worst <= 1e-4, `max |planned − cpu| = ${worst}`);
}
