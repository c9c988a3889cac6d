/**
 * The planned decode step wired into `generate()` and `slm bench`: generation on webgpu takes the
 * planned path and yields the cpu's ids; a plan the device cannot hold falls back to the eager path
 * with the reason; the benchmark reports its path and dispatches per token.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandIO } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { benchmarkDecode } from '../../src/generate/bench.js';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { createDecoder, releaseKeptPlan } from '../../src/generate/decoder.js';
import { type GeneratedToken, generate, generateAll } from '../../src/generate/generate.js';
import { argmaxOf } from '../../src/generate/sampling.js';
import { slice } from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { scope } from '../../src/tensor/tensor.js';
import { modelPair } from './decode-helpers.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();
const config = {
  vocabSize: 90,
  hiddenSize: 48,
  numLayers: 2,
  numAttentionHeads: 6,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 64,
};

if (backend) {
  // 1 and 2 ahead read every token back on its own; 5 and 8 read them in batches of 4 and 7 (closed
  // early near the plan's end, where no later step is submitted).
  test('1, 2, 5 or 8 steps submitted ahead give the cpu ids, also when fed another token or sampling', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, config, 8);
    try {
      const prompt = [2, 4, 6, 8];
      const want = await generateAll(cpuModel, prompt, { maxNewTokens: 22 });
      for (const planAhead of [1, 2, 5, 8]) {
        const got = await generateAll(gpuModel, prompt, { maxNewTokens: 22, planAhead });
        assert.deepEqual(got.ids, want.ids, `${planAhead} ahead`);
      }
      // One step to a command buffer (the default is two), and shared bind groups on and off (a model
      // this small has them on by default).
      const variants = [
        { planStepsPerSubmit: 1 as const },
        { planSharedBindings: true },
        { planSharedBindings: false },
      ];
      for (const variant of variants) {
        const got = await generateAll(gpuModel, prompt, { maxNewTokens: 22, ...variant });
        assert.deepEqual(got.ids, want.ids, JSON.stringify(variant));
      }
      // A scripted run that overrides the model's token twice: the steps ahead computed from the
      // model's own token are dropped and recomputed. Sampled runs must keep their draws in order.
      const script = async (planAhead: number, sampling: object) => {
        const options = { planAhead, ...sampling };
        const decoder = await createDecoder(gpuModel, 30, options, new Rng(5));
        const out: number[] = [];
        try {
          let token = await decoder.next(prompt, prompt);
          for (let i = 0; i < 14; i++) {
            out.push(token);
            const input = i === 2 ? 7 : i === 8 ? 11 : token;
            token = await decoder.next([input], []);
          }
        } finally {
          decoder.dispose();
        }
        return out;
      };
      for (const sampling of [{}, { temperature: 1.3, topK: 20 }]) {
        const one = await script(1, sampling);
        for (const ahead of [2, 5, 8])
          assert.deepEqual(await script(ahead, sampling), one, `${ahead} ahead, ${JSON.stringify(sampling)}`);
        for (const variant of variants)
          assert.deepEqual(await script(5, { ...sampling, ...variant }), one, JSON.stringify(variant));
      }
      await assert.rejects(createDecoder(gpuModel, 30, { planAhead: 9 }, new Rng(0)), /planAhead must be/);
    } finally {
      gpuModel.dispose();
    }
  });

  test('a kept plan prefills only what its cache does not hold (the conversation so far) and equals the cpu', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, { ...config, maxPositionEmbeddings: 256 }, 9);
    const create = DecodePlan.create;
    const plans: DecodePlan[] = [];
    DecodePlan.create = async (...args: Parameters<typeof create>) => {
      const plan = await create(...args);
      plans.push(plan);
      return plan;
    };
    try {
      const turn = async (prompt: number[], options = {}) => {
        const want = await generateAll(cpuModel, prompt, { maxNewTokens: 6, ...options });
        const got = await generateAll(gpuModel, prompt, { maxNewTokens: 6, keepPlan: true, ...options });
        assert.deepEqual(got.ids, want.ids);
        return got.ids;
      };
      const first = [4, 5, 6, 7, 8];
      const reply = await turn(first);
      assert.deepEqual(plans[0]!.lastPrefill, { reused: 0, computed: 5 });
      // The next turn: the last prompt, the reply (all but its last token were fed to the plan's
      // steps; with steps ahead, usually the last too), then the new message.
      const second = [...first, ...reply, 11, 12, 13];
      await turn(second);
      const { reused, computed } = plans[0]!.lastPrefill;
      assert.ok(reused >= first.length + reply.length - 1, `reused ${reused}`);
      assert.equal(reused + computed, second.length);
      // generate() says so on its first step (slm serve's usage.prompt_tokens_details.cached_tokens).
      const steps = generate(gpuModel, second, { maxNewTokens: 1, keepPlan: true });
      const firstStep = (await steps.next()).value as GeneratedToken;
      await steps.return(undefined);
      assert.equal(firstStep.cachedPromptTokens, second.length - 1);
      assert.equal(plans[0]!.lastPrefill.reused, second.length - 1);
      // A prompt that parts from the cache early reuses only the common start; sampling too.
      await turn([4, 5, 60, 61], { temperature: 0.8, topK: 10, seed: 3 });
      assert.deepEqual(plans[0]!.lastPrefill, { reused: 2, computed: 2 });
      // The same prompt again: all but its last id are cached.
      await turn([4, 5, 60, 61]);
      assert.deepEqual(plans[0]!.lastPrefill, { reused: 3, computed: 1 });
      assert.equal(plans.length, 1);
      // Without keepPlan nothing is reused.
      await generateAll(gpuModel, [4, 5, 60, 61], { maxNewTokens: 2 });
      assert.deepEqual(plans[1]!.lastPrefill, { reused: 0, computed: 4 });
      releaseKeptPlan(gpuModel);
    } finally {
      DecodePlan.create = create;
      gpuModel.dispose();
    }
  });

  test('keepPlan reuses one plan across generations (chat turns, server requests) and still equals the cpu', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, { ...config, maxPositionEmbeddings: 1024 }, 6);
    const create = DecodePlan.create;
    let built = 0;
    DecodePlan.create = async (...args: Parameters<typeof create>) => {
      built++;
      return create(...args);
    };
    try {
      for (const prompt of [
        [4, 5, 6],
        [7, 8],
        [9, 10, 11, 12],
      ]) {
        const want = await generateAll(cpuModel, prompt, { maxNewTokens: 6 });
        const got = await generateAll(gpuModel, prompt, { maxNewTokens: 6, keepPlan: true });
        assert.deepEqual(got.ids, want.ids);
      }
      assert.equal(built, 1, 'three generations, one plan');
      // Sampling through the kept plan draws as a fresh one does.
      const sampling = { maxNewTokens: 6, temperature: 0.9, topK: 20, seed: 5 };
      const fresh = await generateAll(gpuModel, [3, 2, 1], sampling);
      const kept = await generateAll(gpuModel, [3, 2, 1], { ...sampling, keepPlan: true });
      assert.deepEqual(kept.ids, fresh.ids);
      assert.equal(built, 2, 'the run without keepPlan built its own plan');
      // In use: a second decoder gets a plan of its own; a longer request replaces the kept plan.
      const a = await createDecoder(gpuModel, 10, { keepPlan: true }, new Rng(0));
      const b = await createDecoder(gpuModel, 10, { keepPlan: true }, new Rng(0));
      assert.equal(built, 3);
      b.dispose();
      a.dispose();
      const long = await createDecoder(gpuModel, 300, { keepPlan: true }, new Rng(0));
      assert.equal(built, 4);
      long.dispose();
      const again = await createDecoder(gpuModel, 280, { keepPlan: true }, new Rng(0));
      assert.equal(built, 4, 'the 512-position plan serves a 280-position request');
      again.dispose();
      releaseKeptPlan(gpuModel);
      (await createDecoder(gpuModel, 10, { keepPlan: true }, new Rng(0))).dispose();
      assert.equal(built, 5, 'released: the next request builds anew');
      releaseKeptPlan(gpuModel);
    } finally {
      DecodePlan.create = create;
      gpuModel.dispose();
    }
  });

  test('a plan the device cannot build falls back to the eager path, which still equals the cpu', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, config, 4);
    const create = DecodePlan.create;
    // As Dawn reports a binding over the adapter's limit (GPT-2's 154 MB embedding on a 128 MiB adapter).
    DecodePlan.create = async () => {
      throw new Error('building the decode plan failed: Binding size (154389504) is larger than the maximum');
    };
    try {
      const decoder = await createDecoder(gpuModel, 30, {}, new Rng(0));
      assert.equal(decoder.path, 'eager');
      assert.match(decoder.reason ?? '', /could not be built here.*Binding size/);
      decoder.dispose();
      const prompt = [3, 9, 27];
      const want = await generateAll(cpuModel, prompt, { maxNewTokens: 8 });
      const got = await generateAll(gpuModel, prompt, { maxNewTokens: 8 });
      assert.deepEqual(got.ids, want.ids);
      assert.equal(got.ids.length, 8);
      const bench = await benchmarkDecode(gpuModel, { promptTokens: 3, genTokens: 2, runs: 1 });
      assert.equal(bench.path, 'eager');
      assert.match(bench.eagerReason ?? '', /could not be built here/);
      await assert.rejects(
        benchmarkDecode(gpuModel, { promptTokens: 3, genTokens: 2, runs: 1, path: 'planned' }),
        /Binding size/,
      );
    } finally {
      DecodePlan.create = create;
      gpuModel.dispose();
    }
  });

  test('generate() on webgpu decodes greedily through the plan and equals the cpu', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, config, 3);
    try {
      const decoder = await createDecoder(gpuModel, 30, {}, new Rng(0));
      assert.equal(decoder.path, 'planned');
      assert.equal(decoder.reason, null);
      decoder.dispose();
      const prompt = [5, 6, 7, 8];
      const want = await generateAll(cpuModel, prompt, { maxNewTokens: 22 });
      const got = await generateAll(gpuModel, prompt, { maxNewTokens: 22 });
      const eager = await generateAll(gpuModel, prompt, { maxNewTokens: 22, decodePath: 'eager' });
      assert.deepEqual(got.ids, want.ids);
      assert.deepEqual(eager.ids, want.ids);
      assert.equal(got.ids.length, 22);
      // Generating up to the model's context fills the plan exactly.
      const full = await generateAll(gpuModel, prompt, { maxNewTokens: 100 });
      assert.equal(full.ids.length, 64 - prompt.length);
      assert.deepEqual(full.ids, (await generateAll(cpuModel, prompt, { maxNewTokens: 100 })).ids);
    } finally {
      gpuModel.dispose();
    }
  });

  test('the planned decoder drops its step ahead when fed another token than it returned', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, config, 6);
    const decoder = await createDecoder(gpuModel, 20, {}, new Rng(0));
    const cache = cpuModel.newCache(20);
    const cpuNext = (ids: number[]) =>
      scope(() => {
        const out = cpuModel.forward([ids], { cache });
        return argmaxOf(slice(out, 1, ids.length - 1, ids.length).dataSync());
      });
    try {
      const prompt = [9, 8, 7];
      const t0 = await decoder.next(prompt, prompt);
      assert.equal(t0, cpuNext(prompt));
      const t1 = await decoder.next([t0], prompt);
      assert.equal(t1, cpuNext([t0]));
      const forced = (t1 + 1) % config.vocabSize;
      const t2 = await decoder.next([forced], prompt);
      assert.equal(t2, cpuNext([forced]));
      assert.equal(await decoder.next([t2], prompt), cpuNext([t2]));
    } finally {
      decoder.dispose();
      gpuModel.dispose();
    }
  });

  test('sampling and repetition penalty run through the plan (GPU sampler, host draws u) and equal the cpu', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, config, 4);
    try {
      const prompt = [11, 12, 13];
      const cases = [
        { temperature: 0.8, topK: 20, topP: 0.95, seed: 5 },
        { temperature: 1.2, seed: 9 },
        { repetitionPenalty: 1.3 },
      ];
      for (const options of cases) {
        const decoder = await createDecoder(gpuModel, 10, options, new Rng(0));
        assert.equal(decoder.path, 'planned');
        decoder.dispose();
        const want = await generateAll(cpuModel, prompt, { maxNewTokens: 20, ...options });
        const got = await generateAll(gpuModel, prompt, { maxNewTokens: 20, ...options });
        assert.deepEqual(got.ids, want.ids, JSON.stringify(options));
      }
    } finally {
      gpuModel.dispose();
    }
  });

  test('the cpu backend and forced eager decoding give their reason', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, config, 4);
    try {
      const onCpu = await createDecoder(cpuModel, 10, {}, new Rng(0));
      assert.equal(onCpu.path, 'eager');
      assert.match(onCpu.reason ?? '', /cpu backend/);
      onCpu.dispose();
      const forced = await createDecoder(gpuModel, 10, { decodePath: 'eager' }, new Rng(0));
      assert.equal(forced.path, 'eager');
      assert.match(forced.reason ?? '', /eager path was asked for/);
      forced.dispose();
    } finally {
      gpuModel.dispose();
    }
  });

  test('the decode benchmark runs the planned path and counts its dispatches against the eager path', async () => {
    const { gpuModel } = modelPair(backend, config, 5);
    try {
      const planned = await benchmarkDecode(gpuModel, { promptTokens: 6, genTokens: 5, runs: 1 });
      assert.equal(planned.path, 'planned');
      assert.equal(planned.dispatchesPerToken, 5 * 2 + 3); // 11 positions: one attention split
      assert.ok(planned.msPerToken > 0 && Number.isFinite(planned.decodeTokensPerSecond));
      const eager = await benchmarkDecode(gpuModel, {
        promptTokens: 6,
        genTokens: 5,
        runs: 1,
        path: 'eager',
      });
      assert.equal(eager.path, 'eager');
      assert.ok(eager.dispatchesPerToken! > planned.dispatchesPerToken!, `eager ${eager.dispatchesPerToken}`);
      const half = await benchmarkDecode(gpuModel, {
        promptTokens: 6,
        genTokens: 5,
        runs: 1,
        planWeights: 'f16',
      });
      assert.equal(half.planWeights, 'f16');
      // Every matrix of this config has K % 8 = 0: only norms and the f32 embedding row stay 4 bytes.
      const d = config.hiddenSize;
      const norms = (2 * config.numLayers + 1) * d;
      assert.equal(
        half.weightBytesPerToken,
        (planned.weightBytesPerToken - 4 * norms) / 2 + 4 * norms + 4 * d,
      );
    } finally {
      gpuModel.dispose();
    }
  });

  test('slm bench --json reports path and dispatchesPerToken', async () => {
    let stdout = '';
    const io: CommandIO = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => true },
      env: {},
    };
    const args = ['bench', '--model', 'tiny', '--prompt-tokens', '4', '--gen-tokens', '3', '--runs', '1'];
    assert.equal(await main([...args, '--json', '--backend', 'webgpu'], io), 0);
    const report = JSON.parse(stdout);
    assert.equal(report.path, 'planned');
    assert.equal(report.dispatchesPerToken, 5 * 4 + 3); // tiny preset: 4 layers; 7 positions, one split
    assert.equal(report.planWeights, 'f32');
    assert.equal(report.planStepsPerSubmit, 2);
    // A model this small streams far less than 16 MB a dispatch: shared bind groups by default.
    assert.equal(report.planSharedBindings, process.env.SLM_SHARED_BINDINGS !== '0');
    assert.ok(report.copyGBps > 0);
    stdout = '';
    const tuned = ['--json', '--backend', 'webgpu', '--shared-bindings', 'off', '--steps-per-submit', '1'];
    assert.equal(await main([...args, ...tuned], io), 0);
    const shared = JSON.parse(stdout);
    assert.equal(shared.planSharedBindings, false);
    assert.equal(shared.planStepsPerSubmit, 1);
    stdout = '';
    assert.equal(await main([...args, '--json', '--backend', 'webgpu', '--weights', 'bf16'], io), 0);
    const half = JSON.parse(stdout);
    assert.equal(half.planWeights, 'bf16');
    assert.ok(half.weightBytesPerToken < report.weightBytesPerToken, 'bf16 matvecs stream fewer bytes');
    stdout = '';
    assert.equal(await main([...args, '--json', '--backend', 'webgpu', '--profile'], io), 0);
    const profiled = JSON.parse(stdout);
    assert.ok(profiled.profile.hostMs > 0 && profiled.profile.streamMs > 0);
    // Every dispatch of the step is in the per-kind table (when the adapter has timestamp queries).
    if (profiled.profile.byLabel) {
      const counted = Object.values(profiled.profile.byLabel as Record<string, { count: number }>).reduce(
        (n, e) => n + e.count,
        0,
      );
      assert.equal(counted, profiled.dispatchesPerToken);
    }
  });
}
