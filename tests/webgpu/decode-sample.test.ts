/**
 * The GPU sampler of the planned decode step (backend/webgpu/decode/sample.ts) against the host's
 * `selectToken`: the same token for the same logits, history, options and uniform draw u, over random
 * and tied logits, vocabularies that are not multiples of the block size, and every processor on and
 * off; a seeded generation through the planned path equals the eager path's; bad options are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawWord, GpuSampler, sampleBlock } from '../../src/backend/webgpu/decode/sample.js';
import type { WebGPUBackend } from '../../src/backend/webgpu/index.js';
import { presets } from '../../src/config/presets.js';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { createDecoder } from '../../src/generate/decoder.js';
import { generateAll } from '../../src/generate/generate.js';
import { type SamplingOptions, selectToken } from '../../src/generate/sampling.js';
import { Rng } from '../../src/tensor/random.js';
import { modelPair } from './decode-helpers.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

/** A standalone sampler over its own logits, token and step buffers. */
function harness(gpu: WebGPUBackend, vocab: number) {
  const device = gpu.runtime.device;
  const owned: GPUBuffer[] = [];
  const create = (bytes: number, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
    owned.push(b);
    return b;
  };
  const logits = create(4 * vocab, 0x80 | 0x08);
  const tokens = create(16, 0x80 | 0x04 | 0x08);
  const step = create(16, 0x40 | 0x08);
  const read = create(16, 0x01 | 0x08);
  const sampler = new GpuSampler(
    device,
    (code) => gpu.runtime.pipeline(code),
    vocab,
    { logits, tokens, step },
    create,
  );
  return {
    sampler,
    /** The GPU's token for a row whose step input is the last history id. */
    async pick(row: Float32Array, history: number[], options: SamplingOptions, u: number): Promise<number> {
      sampler.configure(options);
      sampler.writeHistory(history);
      device.queue.writeBuffer(logits, 0, row);
      device.queue.writeBuffer(tokens, 0, new Uint32Array([history[history.length - 1]!]));
      device.queue.writeBuffer(step, 0, new Uint32Array([0, 1, drawWord(u), 0]));
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const d of sampler.dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
      }
      pass.end();
      encoder.copyBufferToBuffer(tokens, 0, read, 0, 16);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(0x01);
      const token = new Uint32Array(read.getMappedRange().slice(0))[0]!;
      read.unmap();
      gpu.runtime.checkErrors();
      return token;
    },
    dispose: () => {
      for (const b of owned) b.destroy();
    },
  };
}

/** Logits of one of several shapes: smooth, peaked, quantized (many exact ties), constant. */
function logitsOf(vocab: number, kind: number, rng: Rng): Float32Array {
  const row = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) {
    const g = rng.normal();
    row[i] =
      kind === 0 ? 2 * g : kind === 1 ? 6 * g : kind === 2 ? Math.round(2 * g) / 2 : kind === 3 ? 0.5 : g;
  }
  if (kind === 4) for (let i = 0; i < 5; i++) row[rng.int(vocab)] = 12 + rng.int(2); // a few tied peaks
  return row;
}

const optionSets: SamplingOptions[] = [
  { temperature: 1 },
  { doSample: true },
  { temperature: 0.7, topK: 50 },
  { temperature: 1.25, topK: 1 },
  { temperature: 1.3, topP: 0.9 },
  { temperature: 0.8, topK: 40, topP: 0.8 },
  { temperature: 1, minP: 0.05 },
  { temperature: 0.9, topK: 20, topP: 0.93, minP: 0.02, repetitionPenalty: 1.3 },
  { temperature: 1.5, topP: 0.62, repetitionPenalty: 0.8 },
  { temperature: 0.5, topK: 300, topP: 0.97 },
  { temperature: 1, topP: 0 },
  { repetitionPenalty: 1.5 },
  { temperature: 0, repetitionPenalty: 2 },
];

if (backend) {
  test('the GPU sampler picks the host selectToken token for the same u', async () => {
    const rng = new Rng(17);
    // 7, 90: one block; 1000, 1500: several, not multiples of the block (and more than 1024
    // candidates: the draw pass then works on the whole row).
    for (const vocab of [7, 90, 1000, 1500]) {
      const h = harness(backend, vocab);
      try {
        let checked = 0;
        for (const options of optionSets) {
          for (let kind = 0; kind < 5; kind++) {
            const row = logitsOf(vocab, kind, rng);
            // Equal logits put the top-p cut exactly on a sum of equal probabilities when (1 − p)·V is
            // an integer: there f32 and f64 rounding decide, on either side.
            const tail = (1 - (options.topP ?? 1)) * vocab;
            const exactTie = Math.abs(tail - Math.round(tail)) < 1e-3 && (options.topP ?? 1) < 1;
            const boundary = kind === 3 && exactTie && options.repetitionPenalty === undefined;
            const history = Array.from({ length: 1 + rng.int(12) }, () => rng.int(vocab));
            const u = Math.fround(rng.uniform());
            const hostWith = (o: typeof options) =>
              selectToken(Float32Array.from(row), history, o, { uniform: () => u } as unknown as Rng);
            const host = hostWith(options);
            const gpu = await h.pick(row, history, options, u);
            const what = `vocab ${vocab}, logits kind ${kind}, u ${u}, ${JSON.stringify(options)}`;
            if (boundary) {
              // The cut falls on the boundary itself: the GPU may land on either side of it, so its
              // pick must be what the host picks with top-p a hair below or above.
              const sides = [-1e-6, 0, 1e-6].map((e) => hostWith({ ...options, topP: options.topP! + e }));
              assert.ok(sides.includes(gpu), `${what}: ${gpu} not in ${sides}`);
            } else {
              assert.equal(gpu, host, what);
            }
            checked++;
          }
        }
        assert.equal(checked, optionSets.length * 5);
      } finally {
        h.dispose();
      }
    }
  });

  test('the GPU sampler agrees with the host across many draws of one row (top-k ties, top-p boundary)', async () => {
    const rng = new Rng(5);
    const vocab = 777;
    const h = harness(backend, vocab);
    try {
      // Quantized logits: the k-th value and the top-p boundary fall inside groups of equal scores.
      const row = logitsOf(vocab, 2, rng);
      const cases: SamplingOptions[] = [
        { temperature: 1, topK: 10 },
        { temperature: 1, topP: 0.7 },
        { temperature: 0.6, topK: 25, topP: 0.5, minP: 0.1 },
      ];
      for (const options of cases) {
        const seen = new Set<number>();
        for (let draw = 0; draw < 25; draw++) {
          const u = Math.fround(rng.uniform());
          const host = selectToken(Float32Array.from(row), [3], options, {
            uniform: () => u,
          } as unknown as Rng);
          assert.equal(await h.pick(row, [3], options, u), host, `u ${u}, ${JSON.stringify(options)}`);
          seen.add(host);
        }
        assert.ok(seen.size > 1, 'the draws reach several tokens');
      }
    } finally {
      h.dispose();
    }
  });

  test('the GPU sampler handles a vocabulary over 256·1024 ids (several ids per invocation)', async () => {
    const vocab = 262_144 + 1001;
    assert.ok(sampleBlock(vocab) > 256);
    const rng = new Rng(2);
    const h = harness(backend, vocab);
    try {
      for (const options of [
        { temperature: 0.9, topK: 40 },
        { temperature: 1.1 },
        { repetitionPenalty: 1.2 },
      ]) {
        const row = logitsOf(vocab, 1, rng);
        const history = [rng.int(vocab), rng.int(vocab)];
        const u = Math.fround(rng.uniform());
        const host = selectToken(Float32Array.from(row), history, options, {
          uniform: () => u,
        } as unknown as Rng);
        assert.equal(await h.pick(row, history, options, u), host, JSON.stringify(options));
      }
    } finally {
      h.dispose();
    }
  });

  test('a seeded sampled generation through the planned path equals the eager path and the cpu', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, presets.tiny!.input, 8);
    try {
      const prompt = [3, 1, 4, 1, 5, 9];
      const cases: SamplingOptions[] = [
        { temperature: 0.9, topK: 50, topP: 0.9 },
        { temperature: 1.2, repetitionPenalty: 1.3 },
        { temperature: 0.7, topP: 0.8, minP: 0.05 },
        { repetitionPenalty: 1.4 },
      ];
      for (const [i, options] of cases.entries()) {
        const run = { maxNewTokens: 24, seed: 100 + i, ...options };
        const decoder = await createDecoder(gpuModel, 40, options, new Rng(0));
        assert.equal(decoder.path, 'planned');
        decoder.dispose();
        const planned = await generateAll(gpuModel, prompt, run);
        const eager = await generateAll(gpuModel, prompt, { ...run, decodePath: 'eager' });
        const onCpu = await generateAll(cpuModel, prompt, run);
        assert.deepEqual(planned.ids, eager.ids, JSON.stringify(options));
        assert.deepEqual(planned.ids, onCpu.ids, JSON.stringify(options));
        assert.equal(planned.ids.length, 24);
      }
    } finally {
      gpuModel.dispose();
    }
  });

  test('a sampled plan step swaps the argmax for the sampler, and a dropped step keeps its draw', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, presets.tiny!.input, 9);
    const plan = await DecodePlan.create(gpuModel, 32);
    try {
      const greedy = plan.dispatchesPerToken;
      await plan.setSampling({ temperature: 0.8, topK: 30 });
      assert.equal(plan.dispatchesPerToken, greedy - 1 + 3);
      await plan.setSampling({ temperature: 0.8 });
      assert.equal(plan.dispatchesPerToken, greedy - 1 + 2);
      await plan.setSampling(null);
      assert.equal(plan.dispatchesPerToken, greedy);
      await assert.rejects(
        plan.setSampling({ temperature: 0.8 }).then(() => plan.step(1)),
        /uniform draw u/,
      );

      // Feeding another token than the one returned drops the step ahead; the draws stay in order.
      const options = { temperature: 1, topK: 40, repetitionPenalty: 1.2 };
      const prompt = [7, 7, 2];
      const decoder = await createDecoder(gpuModel, 20, options, new Rng(4));
      const cpu = await createDecoder(cpuModel, 20, options, new Rng(4));
      try {
        const history = [...prompt];
        let input = prompt;
        for (let s = 0; s < 8; s++) {
          const got = await decoder.next(input, history);
          assert.equal(got, await cpu.next(input, history), `step ${s}`);
          const fed = s === 3 ? (got + 1) % 512 : got;
          history.push(fed);
          input = [fed];
        }
      } finally {
        decoder.dispose();
        cpu.dispose();
      }
    } finally {
      plan.dispose();
      gpuModel.dispose();
    }
  });

  test('bad sampling options are refused with the option named', async () => {
    const { gpuModel } = modelPair(backend, presets.tiny!.input, 1);
    const plan = await DecodePlan.create(gpuModel, 8);
    try {
      const bad: [SamplingOptions, RegExp][] = [
        [{ doSample: true, temperature: 0 }, /temperature must be a finite number > 0/],
        [{ temperature: 1, topK: 2.5 }, /topK must be a non-negative integer/],
        [{ temperature: 1, topK: -1 }, /topK/],
        [{ temperature: 1, topP: 1.5 }, /topP must be in \[0, 1\]/],
        [{ temperature: 1, minP: -0.1 }, /minP must be in \[0, 1\]/],
        [{ temperature: 1, repetitionPenalty: 0 }, /repetitionPenalty must be a finite number > 0/],
        [{ temperature: Number.NaN, doSample: true }, /temperature/],
      ];
      for (const [options, message] of bad) {
        await assert.rejects(plan.setSampling(options), message, JSON.stringify(options));
        await assert.rejects(createDecoder(gpuModel, 8, options, new Rng(0)), message);
      }
    } finally {
      plan.dispose();
      gpuModel.dispose();
    }
  });
}
