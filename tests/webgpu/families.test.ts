/**
 * Every Hugging Face family fixture on the webgpu backend: logits within 1e-4 of the cpu oracle (which
 * itself matches PyTorch transformers within ~3e-6), what `slm forward --backend webgpu` computes.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadHFModel } from '../../src/io/hf.js';
import { openSafetensors } from '../../src/io/index.js';
import { scopeAsync } from '../../src/tensor/tensor.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();
const root = 'tests/fixtures/hf';
const fixtures = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

if (backend) {
  test('there are family fixtures to check', () => {
    assert.ok(fixtures.length >= 20, `${fixtures.length} fixtures`);
  });
  for (const name of fixtures) {
    test(`webgpu forward equals the cpu within 1e-4: ${name}`, async () => {
      const dir = join(root, name);
      const ref = openSafetensors(join(dir, 'reference.safetensors'));
      const ids = Array.from(ref.readInt32('input_ids'));
      ref.close();
      const cpu = (await loadHFModel(dir)).model;
      const gpu = (await loadHFModel(dir, { backend })).model;
      const expected = await scopeAsync(async () => cpu.forward([ids]).data());
      const got = await scopeAsync(async () => gpu.forward([ids]).data());
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
      assert.ok(worst <= 1e-4, `max |webgpu − cpu| = ${worst}`);
      cpu.dispose();
      gpu.dispose();
    });
  }
}
