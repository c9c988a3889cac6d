/**
 * 16-bit matvec weights in the planned decode: the host conversion (f16 and bf16, round to nearest
 * even), and planned decoding with packed weights against the cpu running the same rounded weights
 * (logits within 1e-4, tokens equal), so the kernels' unpacking is exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bf16Bits,
  bf16Value,
  f16Bits,
  f16Value,
  packHalves,
  roundToHalf,
} from '../../src/backend/webgpu/decode/half.js';
import { bf16ExactOnDevice, packBf16OnDevice } from '../../src/backend/webgpu/decode/pack.js';
import type { GpuStorage } from '../../src/backend/webgpu/runtime.js';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { Transformer } from '../../src/model/transformer.js';
import { tensor } from '../../src/ops/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertPlanMatchesCpu, cpuGreedy, modelPair } from './decode-helpers.js';
import { requireWebGPU } from './setup.js';

test('f16 conversion rounds to nearest even, saturates to inf and keeps subnormals', () => {
  assert.equal(f16Bits(1), 0x3c00);
  assert.equal(f16Bits(-2), 0xc000);
  assert.equal(f16Bits(65504), 0x7bff);
  assert.equal(f16Bits(65520), 0x7c00);
  assert.equal(f16Bits(2 ** -24), 0x0001);
  assert.equal(f16Bits(2 ** -26), 0x0000);
  assert.equal(f16Bits(1 + 2 ** -11), 0x3c00); // tie to even
  assert.equal(f16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie to even (up)
  assert.equal(f16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01);
  for (const v of [0.1, -3.75, 1e-5, 1234.5])
    assert.ok(Math.abs(f16Value(f16Bits(v)) - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25)); // subnormal steps are 2^-24;
});

test('bf16 conversion rounds to nearest even', () => {
  assert.equal(bf16Bits(1), 0x3f80);
  assert.equal(bf16Bits(-1), 0xbf80);
  assert.equal(bf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
  assert.equal(bf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(bf16Value(bf16Bits(3.140625)), 3.140625);
  const values = Float32Array.from([0.3, -0.7, 5, 1e-3]);
  const packed = packHalves(values, 'bf16');
  assert.equal(packed.length, 2);
  const rounded = roundToHalf(values, 'bf16');
  assert.equal(bf16Value(packed[0]! & 0xffff), rounded[0]);
  assert.equal(bf16Value(packed[1]! >>> 16), rounded[3]);
});

const backend = await requireWebGPU();

if (backend) {
  // packed: the matrices the plan keeps 16-bit copies of (q, k, v, o or their MLA names, gate, up per
  // dense layer, and the head; down_proj's K = 44 stays f32). The MoE layer's stacked experts are
  // packed too with bf16 (not counted here: they are stacks, not copies of one matrix).
  const shapes = [
    { name: 'GQA', attention: { numAttentionHeads: 6, numKeyValueHeads: 2 }, packed: 2 * 6 + 1 },
    {
      name: 'MoE (stacked experts packed with bf16)',
      attention: {
        numAttentionHeads: 6,
        numKeyValueHeads: 2,
        moe: {
          numExperts: 4,
          numExpertsPerToken: 2,
          moeIntermediateSize: 24,
          numSharedExperts: 1,
          firstKDenseReplace: 1,
          normTopkProb: true,
          routedScalingFactor: 1,
          scoringFunc: 'softmax' as const,
          correctionBias: false,
        },
      },
      packed: 6 + 4 + 1,
    },
    {
      // q_a, kv_a, q_b and o are packed; kv_b (read by the latent attention kernels) stays f32.
      name: 'MLA',
      attention: {
        numAttentionHeads: 2,
        headDim: 24,
        mla: { qLoraRank: 24, kvLoraRank: 32, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 16 },
      },
      packed: 2 * 6 + 1,
    },
  ];
  for (const format of ['f16', 'bf16'] as const)
    for (const shape of shapes) {
      test(`planned decode (${shape.name}) with ${format} matvec weights equals the cpu on the same rounded weights`, async () => {
        const config = {
          vocabSize: 97,
          hiddenSize: 48,
          numLayers: 2,
          ...shape.attention,
          intermediateSize: 44, // down_proj (K = 44) stays f32: mixed storage in one plan
          tieWordEmbeddings: format === 'f16',
        };
        const pair = modelPair(backend, config, 21);
        // Round every matrix the plan packs, on both models, so the eager prefill sees the same values.
        const params = new Map(pair.cpuModel.params);
        const gpuParams = new Map(pair.gpuModel.params);
        for (const [path, t] of pair.cpuModel.params) {
          if (t.rank !== 2 || t.shape[1]! % 8 !== 0) continue;
          const rounded = roundToHalf(Float32Array.from(t.dataSync()), format);
          params.set(path, tensor(rounded, t.shape).keep());
          gpuParams.get(path)!.dispose();
          gpuParams.set(path, tensor(rounded, t.shape, { backend }).keep());
        }
        const cpuModel = new Transformer(pair.cpuModel.config, params);
        const gpuModel = new Transformer(pair.cpuModel.config, gpuParams);
        const prompt = [4, 40, 2];
        const steps = 20;
        const expected = cpuGreedy(cpuModel, prompt, steps);
        // A bind group per dispatch (shared bindings count theirs per layer: decode-shared.test.ts).
        const plan = await DecodePlan.create(gpuModel, prompt.length + steps, {
          weights: format,
          sharedBindings: false,
        });
        try {
          assert.equal(plan.packedMatrices, shape.packed);
          // Packed q/k/v (and gate/up) sit back to back in the plan's arena: one binding each.
          const qkv = plan.dispatches.filter((d) => d.label.endsWith('norm·qkv'));
          const gateUp = plan.dispatches.filter((d) => d.label.endsWith('norm·gate/up·act'));
          for (const d of qkv) assert.equal(d.bindings, 4); // x, norm, q/k/v, out
          for (const d of gateUp) assert.equal(d.bindings, 4); // x, norm, gate/up, out
          await assertPlanMatchesCpu(plan, prompt, expected);
          // Without rounding on the cpu side the difference is the 16-bit rounding, far above 1e-4.
          const unrounded = cpuGreedy(pair.cpuModel, prompt, 1);
          let gap = 0;
          for (let i = 0; i < unrounded.logits[1]!.length; i++)
            gap = Math.max(gap, Math.abs(unrounded.logits[1]![i]! - expected.logits[1]![i]!));
          assert.ok(gap > 1e-4, `rounding changed the logits by only ${gap}`);
        } finally {
          plan.dispose();
          gpuModel.dispose();
        }
      });
    }

  test("weights 'auto' streams bf16 exactly when that is lossless (a bf16 checkpoint), else f32", async () => {
    const config = { vocabSize: 64, hiddenSize: 32, numLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 };
    const pair = modelPair(backend, config, 5);
    const random = await DecodePlan.create(pair.gpuModel, 12, { weights: 'auto' });
    assert.equal(random.weightFormat, 'f32');
    assert.equal(random.packedMatrices, 0);
    random.dispose();
    // Every parameter rounded to bf16 on both models, as a bf16 checkpoint loads.
    const params = new Map<string, Tensor>();
    const gpuParams = new Map<string, Tensor>();
    for (const [path, t] of pair.cpuModel.params) {
      const rounded = roundToHalf(Float32Array.from(t.dataSync()), 'bf16');
      params.set(path, tensor(rounded, t.shape).keep());
      gpuParams.set(path, tensor(rounded, t.shape, { backend }).keep());
    }
    pair.gpuModel.dispose();
    const cpuModel = new Transformer(pair.cpuModel.config, params);
    const gpuModel = new Transformer(pair.cpuModel.config, gpuParams);
    const plan = await DecodePlan.create(gpuModel, 12, { weights: 'auto' });
    try {
      assert.equal(plan.weightFormat, 'bf16');
      assert.ok(plan.packedMatrices > 0);
      const prompt = [1, 2, 3];
      await assertPlanMatchesCpu(plan, prompt, cpuGreedy(cpuModel, prompt, 6));
    } finally {
      plan.dispose();
      gpuModel.dispose();
    }
  });

  test('bf16 packing on the device is bit-identical to packHalves (ties, NaN, inf, subnormals)', async () => {
    const n = 70_000; // 137 workgroups of 256 packed pairs
    const values = new Float32Array(n);
    const bits = new Uint32Array(values.buffer);
    let state = 12345;
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      bits[i] = state;
    }
    // Exact ties (low half 0x8000) with even and odd high halves, specials, subnormals.
    const specials = [
      0x3f808000, 0x3f818000, 0x7f800000, 0xff800000, 0x7fc00001, 0x7f800001, 0x00008000, 0x80018000, 0,
    ];
    specials.forEach((b, i) => {
      bits[i] = b;
    });
    const t = tensor(values, [n], { backend });
    const runtime = backend.runtime;
    const owned: GPUBuffer[] = [];
    const [packed] = packBf16OnDevice(
      runtime,
      [{ binding: { buffer: (t.storage as GpuStorage).buffer, size: n * 4 }, elements: n }],
      (bytes) => {
        // A range 256 bytes into a larger buffer, as the plan's weight arenas place them.
        const b = runtime.device.createBuffer({
          size: 256 + Math.ceil(bytes / 16) * 16,
          usage: 0x80 | 0x04 | 0x08,
        });
        owned.push(b);
        return { buffer: b, offset: 256, size: bytes };
      },
    );
    const read = runtime.device.createBuffer({ size: n * 2, usage: 0x01 | 0x08 });
    const encoder = runtime.device.createCommandEncoder();
    encoder.copyBufferToBuffer(packed!.buffer, 256, read, 0, n * 2);
    runtime.device.queue.submit([encoder.finish()]);
    await read.mapAsync(0x01);
    const got = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    const want = packHalves(values, 'bf16');
    assert.deepEqual(Array.from(got), Array.from(want));
    assert.equal(
      await bf16ExactOnDevice(runtime, [
        { binding: { buffer: (t.storage as GpuStorage).buffer, size: n * 4 }, elements: n },
      ]),
      false,
    );
    const exact = tensor(roundToHalf(values.subarray(9), 'bf16'), [n - 9], { backend });
    assert.equal(
      await bf16ExactOnDevice(runtime, [
        { binding: { buffer: (exact.storage as GpuStorage).buffer, size: (n - 9) * 4 }, elements: n - 9 },
      ]),
      true,
    );
    for (const b of [...owned, read]) b.destroy();
    t.dispose();
    exact.dispose();
  });
}
