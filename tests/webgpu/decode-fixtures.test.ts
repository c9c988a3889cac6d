/**
 * Hugging Face fixtures through the planned decode step: with the reference input ids fed one token
 * per step (after a one-token eager prefill), every step's logits are within 1e-4 of transformers'
 * logits for that position; and greedy decoding from the fixture's prompt reproduces transformers'
 * `generate` ids token for token.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModelConfig } from '../../src/config/load.js';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { planSupport } from '../../src/generate/decode-support.js';
import { loadHFModel } from '../../src/io/hf.js';
import { openSafetensors } from '../../src/io/index.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();
// Every fixture whose config the planned step supports (the rest decode eagerly, tested elsewhere).
const fixtures: string[] = [];
for (const name of readdirSync('tests/fixtures/hf').sort()) {
  if (name.endsWith('.json')) continue;
  const { config } = await loadModelConfig(join('tests/fixtures/hf', name));
  if (planSupport(config) === null) fixtures.push(name);
}

test('the planned step covers every family fixture', () => {
  const all = readdirSync('tests/fixtures/hf').filter((n) => !n.endsWith('.json'));
  assert.ok(all.length >= 22, `only ${all.length} fixtures found`);
  assert.deepEqual(fixtures, all.sort());
});

if (backend) {
  for (const name of fixtures) {
    test(`planned decode equals transformers: ${name}`, async () => {
      const dir = join('tests/fixtures/hf', name);
      const ref = openSafetensors(join(dir, 'reference.safetensors'));
      const inputIds = Array.from(ref.readInt32('input_ids'));
      const wantLogits = ref.readFloat32('logits'); // [T, vocab]
      const generated = Array.from(ref.readInt32('generated_ids'));
      const promptLength = Number(ref.metadata.prompt_len);
      ref.close();
      const { model } = await loadHFModel(dir, { backend });
      const vocab = model.config.vocabSize;
      const plan = await DecodePlan.create(model, Math.max(inputIds.length, generated.length));
      try {
        // Teacher-forced: position t's logits after feeding input_ids[t].
        const first = await plan.prefill(inputIds.slice(0, 1), { logits: true });
        let worst = 0;
        const compare = (row: Float32Array, t: number) => {
          for (let i = 0; i < vocab; i++)
            worst = Math.max(worst, Math.abs(row[i]! - wantLogits[t * vocab + i]!));
        };
        compare(first.logits!, 0);
        for (let t = 1; t < inputIds.length; t++)
          compare((await plan.step(inputIds[t]!, { logits: true })).logits!, t);
        assert.ok(worst <= 1e-4, `max |planned − transformers| = ${worst}`);

        // Greedy from the fixture's prompt, the argmax staying on the GPU between steps.
        const ids = generated.slice(0, promptLength);
        const { token } = await plan.prefill(ids);
        ids.push(token);
        const firstStep = await plan.step(token);
        ids.push(firstStep.token);
        while (ids.length < generated.length) ids.push((await plan.step()).token);
        assert.deepEqual(ids, generated);
      } finally {
        plan.dispose();
        model.dispose();
      }
    });
  }
}
