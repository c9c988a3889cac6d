/**
 * A bf16 checkpoint loaded with gpuWeights 'bf16' (the bundled model is one): its matrices stay bf16
 * on the GPU, and it decodes, eagerly and through the planned step, exactly as the same checkpoint
 * loaded as float32 does (the values are the same; only their storage differs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { bf16Bits, bf16Value } from '../../src/backend/webgpu/decode/half.js';
import { isPackableWeight, isPackedTensor, packedBf16Tensor } from '../../src/backend/webgpu/packed.js';
import { defaultModelDir } from '../../src/cli/model-arg.js';
import { weightBytesPerToken } from '../../src/generate/bench.js';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { planSupport } from '../../src/generate/decode-support.js';
import { loadHFModel } from '../../src/io/hf.js';
import { Transformer } from '../../src/model/transformer.js';
import { tensor } from '../../src/ops/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { modelPair } from './decode-helpers.js';
import { planCases } from './decode-plan-cases.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

if (backend) {
  test("gpuWeights 'bf16': the bundled model's matrices stay bf16 and decode as the float32 load does", async () => {
    const dense = (await loadHFModel(defaultModelDir, { backend })).model;
    const packed = (await loadHFModel(defaultModelDir, { backend, gpuWeights: 'bf16' })).model;
    const paths = [...packed.params.keys()].filter((p) => isPackedTensor(packed.params.get(p)!));
    assert.ok(paths.includes('model.embed_tokens.weight') && paths.some((p) => p.endsWith('q_proj.weight')));
    const bytes = (m: typeof dense) =>
      [...m.params.values()].reduce((n, t) => n + (isPackedTensor(t) ? t.size * 2 : t.size * 4), 0);
    assert.ok(bytes(packed) < 0.6 * bytes(dense), `${bytes(packed)} vs ${bytes(dense)} bytes`);
    // The benchmark's bytes per token count the packed matrices at 2 bytes on the eager path too.
    assert.ok(weightBytesPerToken(packed) < 0.6 * weightBytesPerToken(dense));
    const prompt = [1, 20, 300, 4000, 50];
    try {
      // Eager: the whole prompt's logits (tiled matmul, gather) and a decode step (matvec).
      const want = await dense.forward([prompt]).data();
      const got = await packed.forward([prompt]).data();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      assert.ok(worst <= 1e-4, `eager logits differ by ${worst}`);
      // Planned: the packed matrices are streamed where they are, and the ids equal the float32 plan's.
      const ids = async (model: typeof dense) => {
        const plan = await DecodePlan.create(model, prompt.length + 12, { weights: 'auto' });
        try {
          const out = [(await plan.prefill(prompt)).token];
          for (let s = 0; s < 12; s++) out.push((await plan.step(s === 0 ? out[0] : undefined)).token);
          return { out, format: plan.weightFormat, copies: plan.packedMatrices };
        } finally {
          plan.dispose();
        }
      };
      const a = await ids(dense);
      const b = await ids(packed);
      assert.equal(b.format, 'bf16');
      assert.deepEqual(b.out, a.out);
      await assert.rejects(DecodePlan.create(packed, 8, { weights: 'f32' }), /bf16-packed weights.*not f32/);
    } finally {
      dense.dispose();
      packed.dispose();
    }
  });

  test("gpuWeights 'bf16' needs the webgpu backend", async () => {
    await assert.rejects(
      loadHFModel(defaultModelDir, { backend: cpuBackend, gpuWeights: 'bf16' }),
      /needs the webgpu backend/,
    );
  });
}

if (backend) {
  test('slm generate on webgpu keeps bf16 matrices packed by default (--gpu-weights auto): the same tokens as f32; bf16 is refused on cpu', async () => {
    const { main } = await import('../../src/cli/main.js');
    let stdout = '';
    const io = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => true },
      env: {},
    };
    const args = ['generate', '--ids', '1,2,3', '--max-new-tokens', '8', '--temperature', '0', '--json'];
    assert.equal(await main([...args, '--backend', 'webgpu', '--gpu-weights', 'f32'], io), 0);
    const dense = JSON.parse(stdout);
    assert.equal(dense.ids.length, 3 + 8);
    for (const flags of [[], ['--gpu-weights', 'bf16']]) {
      stdout = '';
      assert.equal(await main([...args, '--backend', 'webgpu', ...flags], io), 0);
      assert.deepEqual(JSON.parse(stdout).ids, dense.ids);
    }
    let stderr = '';
    const failing = { ...io, stderr: { write: (s: string) => (stderr += s) } };
    assert.notEqual(await main([...args, '--backend', 'cpu', '--gpu-weights', 'bf16'], failing), 0);
    assert.match(stderr, /--gpu-weights bf16 needs the webgpu backend/);
  });

  test('slm eval on webgpu: the same perplexity with bf16 matrices kept packed (default) as with f32 copies', async () => {
    const { main } = await import('../../src/cli/main.js');
    const dir = mkdtempSync(join(tmpdir(), 'slm-eval-packed-'));
    try {
      const data = join(dir, 'text.txt');
      writeFileSync(
        data,
        'The quick brown fox jumps over the lazy dog. It was a bright cold day in April.\n',
      );
      const score = async (flags: string[]) => {
        let stdout = '';
        const io = {
          stdout: { write: (s: string) => (stdout += s) },
          stderr: { write: () => true },
          env: {},
        };
        const args = ['eval', '--data', data, '--context', '16', '--json', '--backend', 'webgpu', ...flags];
        assert.equal(await main(args, io), 0);
        return JSON.parse(stdout) as { tokenPerplexity: number; tokens: number };
      };
      const dense = await score(['--gpu-weights', 'f32']);
      const packed = await score([]);
      assert.ok(dense.tokens > 10);
      assert.ok(
        Math.abs(packed.tokenPerplexity - dense.tokenPerplexity) <= 1e-4 * dense.tokenPerplexity,
        `${packed.tokenPerplexity} vs ${dense.tokenPerplexity}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Every planned-decode feature config (attention kinds, norms, FFN kinds, MLA, MoE, learned positions,
// embedding scales, parallel blocks): with its packable matrices packed, the eager forward reads the
// packed copies and gives the float32 model's logits on the same bf16-rounded values; the planned
// step's greedy ids equal the float32 plan's.
if (backend) {
  for (const { name, config } of planCases.filter((c) => c.subgroups === undefined && !c.matvecTuning))
    test(`packed matrices give the float32 logits and plan ids: ${name}`, async () => {
      const { gpuModel } = modelPair(backend, config, 9);
      const rounded = new Map<string, Tensor>();
      const packed = new Map<string, Tensor>();
      let count = 0;
      for (const [path, t] of gpuModel.params) {
        const values = Float32Array.from(await t.data(), (v) => bf16Value(bf16Bits(v)));
        rounded.set(path, tensor(values, t.shape, { backend }).keep());
        const pack = isPackableWeight(path, t.shape);
        count += pack ? 1 : 0;
        packed.set(
          path,
          (pack ? packedBf16Tensor(backend, values, t.shape) : tensor(values, t.shape, { backend })).keep(),
        );
      }
      gpuModel.dispose();
      const a = new Transformer(gpuModel.config, rounded);
      const b = new Transformer(gpuModel.config, packed);
      try {
        const prompt = [3, 1, 4, 1, 5];
        const want = await a.forward([prompt]).data();
        const got = await b.forward([prompt]).data();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        assert.ok(worst <= 1e-5, `logits differ by ${worst} (${count} packed)`);
        if (planSupport(a.config) === null) {
          const ids = async (model: Transformer) => {
            const plan = await DecodePlan.create(model, prompt.length + 6, { weights: 'bf16' });
            try {
              const out = [(await plan.prefill(prompt)).token];
              for (let s = 0; s < 6; s++) out.push((await plan.step(s === 0 ? out[0] : undefined)).token);
              return out;
            } finally {
              plan.dispose();
            }
          };
          assert.deepEqual(await ids(b), await ids(a));
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    });
}
