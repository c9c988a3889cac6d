/** LoRA: starts at the base model, trains only A and B, equals its merged model, PEFT save/load. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { LoraModel } from '../../src/model/lora.js';
import { Transformer } from '../../src/model/transformer.js';
import { backward, tensor } from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose } from '../helpers/assert-close.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-lora-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const config = defineConfig({
  vocabSize: 24,
  hiddenSize: 16,
  numLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 20,
  maxPositionEmbeddings: 16,
});
const ids = [[1, 5, 7, 3, 9, 2]];
const targets = () => tensor(Int32Array.from([5, 7, 3, 9, 2, 4]), [1, 6]);

/** Random B so the adapters change the output (B starts at zero). */
function randomizeB(lora: LoraModel, seed: number): void {
  const rng = new Rng(seed);
  for (const { b } of lora.adapters) {
    const values = tensor(
      Float64Array.from({ length: b.size }, () => rng.normal() * 0.3),
      b.shape,
      { dtype: b.dtype },
    );
    b.backend.copyInto(b.info(), values.info());
  }
}

test('fresh adapters leave the output unchanged; gradients reach only A and B', () => {
  const base = Transformer.init(config, { seed: 1 });
  const before = base.forward(ids).dataSync();
  const lora = LoraModel.create(base, { rank: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] }, 3);
  assert.equal(lora.adapters.length, 4);
  assert.equal(lora.numParameters(), 2 * (2 * 16 + 16 * 2) + 2 * (2 * 16 + 8 * 2));
  assert.deepEqual(Array.from(lora.forward(ids).dataSync()), Array.from(before));
  randomizeB(lora, 4);
  backward(lora.loss(tensor(Int32Array.from(ids[0]!), [1, 6]), targets()));
  for (const { a, b } of lora.adapters) assert.ok(a.grad && b.grad, 'adapter gradients');
  for (const t of base.params.values()) assert.equal(t.grad, null, 'the base stays frozen');
  // The base map holds the original tensors again after the pass.
  assert.deepEqual(Array.from(base.forward(ids).dataSync()), Array.from(before));
});

test('the adapter gradient matches finite differences (float64)', () => {
  const base = Transformer.init(config, { seed: 2, dtype: 'float64' });
  const lora = LoraModel.create(base, { rank: 2, alpha: 2, targetModules: ['v_proj', 'down_proj'] }, 5);
  randomizeB(lora, 6);
  const input = tensor(Int32Array.from(ids[0]!), [1, 6]);
  backward(lora.loss(input, targets()));
  for (const { a } of [lora.adapters[0]!, lora.adapters.at(-1)!]) {
    const values = a.dataSync() as Float64Array;
    const analytic = a.grad!.dataSync()[3]!;
    const eps = 1e-6;
    const lossAt = (x: number) => {
      const copy = values.slice();
      copy[3] = x;
      a.backend.copyInto(a.info(), tensor(copy, a.shape).info());
      return lora.loss(input, targets()).itemSync();
    };
    const numeric = (lossAt(values[3]! + eps) - lossAt(values[3]! - eps)) / (2 * eps);
    lossAt(values[3]!);
    assert.ok(
      Math.abs(numeric - analytic) < 1e-6 * Math.max(1, Math.abs(numeric)),
      `${numeric} vs ${analytic}`,
    );
  }
});

test('merged() folds W + (alpha/r)·B·A in: same logits as the adapted model', () => {
  const base = Transformer.init(config, { seed: 3 });
  const lora = LoraModel.create(base, { rank: 4, alpha: 8, targetModules: ['q_proj', 'up_proj'] }, 7);
  randomizeB(lora, 8);
  const merged = lora.merged();
  assertClose(merged.forward(ids).dataSync(), lora.forward(ids).dataSync(), {
    atol: 1e-5,
    message: 'merged',
  });
  assert.notDeepEqual(Array.from(merged.forward(ids).dataSync()), Array.from(base.forward(ids).dataSync()));
});

test('PEFT layout: adapter_config.json and base_model.model.* lora_A/lora_B tensors; load restores them', async () => {
  const base = Transformer.init(config, { seed: 4 });
  const lora = LoraModel.create(base, { rank: 2, alpha: 16, targetModules: ['q_proj', 'v_proj'] }, 9);
  randomizeB(lora, 10);
  const dir = join(scratch, 'adapter');
  await lora.save(dir, 'some/base');
  const peft = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(peft.peft_type, 'LORA');
  assert.equal(peft.r, 2);
  assert.equal(peft.lora_alpha, 16);
  assert.deepEqual(peft.target_modules, ['q_proj', 'v_proj']);
  const file = openSafetensors(join(dir, 'adapter_model.safetensors'));
  assert.deepEqual(
    file.info('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight').shape,
    [2, 16],
  );
  assert.deepEqual(file.info('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight').shape, [8, 2]);
  assert.equal(file.names().length, 8);
  file.close();
  const loaded = LoraModel.load(dir, Transformer.init(config, { seed: 4 }));
  assert.deepEqual(Array.from(loaded.forward(ids).dataSync()), Array.from(lora.forward(ids).dataSync()));
  assert.throws(
    () => LoraModel.create(base, { rank: 2, alpha: 2, targetModules: ['qkv_proj'] }),
    /qkv_proj not found; this model has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/,
  );
});
