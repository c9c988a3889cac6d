/**
 * The planned decode step on webgpu against the eager cpu oracle: for every config of
 * decode-plan-cases.ts (attention kinds, RoPE variants, norms, FFN kinds, MLA, MoE, odd widths that
 * take the scalar kernels, several attention splits), the greedy tokens equal the cpu's token for token
 * and the logits are within 1e-4 at every step; a Llama-style step is 5·layers + 3 dispatches.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodePlan, subgroupsUsable } from '../../src/generate/decode-plan.js';
import { cpuGreedy, modelPair } from './decode-helpers.js';
import { planCases } from './decode-plan-cases.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

const cases = planCases;

/** The first config's model (seed 9), its cpu greedy decode of `steps` after [2, 7, 1], and a plan. */
async function greedyPlan(steps: number, capacity: number, stepsPerSubmit: 1 | 2) {
  const { cpuModel, gpuModel } = modelPair(backend!, cases[0]!.config, 9);
  const prompt = [2, 7, 1];
  const expected = cpuGreedy(cpuModel, prompt, steps);
  const plan = await DecodePlan.create(gpuModel, capacity, { stepsPerSubmit });
  return { gpuModel, prompt, expected, plan };
}

if (backend) {
  test('the plan reduces with subgroups by default where the device allows it', async () => {
    const { gpuModel } = modelPair(backend, cases[0]!.config, 1);
    const plan = await DecodePlan.create(gpuModel, 8);
    const without = await DecodePlan.create(gpuModel, 8, { subgroups: false });
    try {
      assert.equal(plan.usesSubgroups, subgroupsUsable(backend));
      assert.equal(without.usesSubgroups, false);
    } finally {
      plan.dispose();
      without.dispose();
      gpuModel.dispose();
    }
  });

  for (const { name, config, splits, seed = 7, subgroups, fuseCombine, matvecTuning } of cases) {
    test(`planned decode equals the cpu, token for token and logits within 1e-4: ${name}`, async () => {
      const { cpuModel, gpuModel } = modelPair(backend, config, seed);
      const prompt = [3, 1, 4, 1, 5];
      const steps = 24;
      const expected = cpuGreedy(cpuModel, prompt, steps);
      const plan = await DecodePlan.create(gpuModel, prompt.length + steps, {
        ...(splits ? { splits } : {}),
        ...(subgroups === undefined ? {} : { subgroups }),
        ...(fuseCombine === undefined ? {} : { fuseCombine }),
        ...(matvecTuning ? { matvecTuning } : {}),
      });
      if (subgroups === false) assert.equal(plan.usesSubgroups, false);
      try {
        const first = await plan.prefill(prompt, { logits: true });
        assert.equal(first.token, expected.tokens[0]);
        assert.ok(maxDiff(first.logits!, expected.logits[0]!) <= 1e-4);
        const tokens = [first.token];
        let worst = 0;
        for (let s = 1; s <= steps; s++) {
          // The first step feeds the prefill's token; later ones use the argmax already on the GPU.
          const result = await plan.step(s === 1 ? first.token : undefined, { logits: true });
          worst = Math.max(worst, maxDiff(result.logits!, expected.logits[s]!));
          tokens.push(result.token);
        }
        assert.deepEqual(tokens, expected.tokens);
        assert.ok(worst <= 1e-4, `max |planned − cpu| logits = ${worst}`);
        assert.ok(new Set(tokens).size > 1, 'a decode that repeats one token proves little');
        assert.equal(plan.position, prompt.length + steps);
      } finally {
        plan.dispose();
        gpuModel.dispose();
      }
    });
  }

  for (const stepsPerSubmit of [1, 2] as const)
    test(`steps submitted ahead resolve to the greedy tokens in order; rewind re-runs a position (${stepsPerSubmit} steps a command buffer)`, async () => {
      const { gpuModel, prompt, expected, plan } = await greedyPlan(6, 12, stepsPerSubmit);
      try {
        const first = await plan.prefill(prompt);
        assert.equal(first.token, expected.tokens[0]);
        // Four submits before any read-back: the fourth waits for the first's read-back buffer.
        // Not awaited one by one: submits still take positions in call order.
        const inFlight = await Promise.all([
          plan.submit(first.token),
          plan.submit(),
          plan.submit(),
          plan.submit(),
        ]);
        const tokens = (await Promise.all(inFlight.map((s) => s.result))).map((r) => r.token);
        assert.deepEqual(tokens, expected.tokens.slice(1, 5));
        plan.rewind(prompt.length + 2);
        await assert.rejects(plan.step(), /pass one after prefill/);
        const again = await plan.step(expected.tokens[2]!, { logits: true });
        assert.equal(again.token, expected.tokens[3]);
        assert.ok(maxDiff(again.logits!, expected.logits[3]!) <= 1e-4);
        assert.equal((await plan.step()).token, expected.tokens[4]);
      } finally {
        plan.dispose();
        gpuModel.dispose();
      }
    });

  for (const stepsPerSubmit of [1, 2] as const)
    test(`tokens read back in batches: a step that reads back resolves the deferred ones; a full batch or readBackNow closes it (${stepsPerSubmit} steps a command buffer)`, async () => {
      const { gpuModel, prompt, expected, plan } = await greedyPlan(24, 40, stepsPerSubmit);
      try {
        const first = await plan.prefill(prompt);
        const settled = new Set<number>();
        const submit = async (token: number | undefined, readBack: boolean) => {
          const s = await plan.submit(token, { readBack });
          void s.result.then(() => settled.add(s.step));
          return s;
        };
        // Four deferred steps stay unread until the fifth reads the batch back.
        const batch = [];
        for (let i = 0; i < 4; i++) batch.push(await submit(i === 0 ? first.token : undefined, false));
        await plan.readBackNow(batch[0]!.step - 1); // a step not in the open batch: nothing is read
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(settled.size, 0, 'no deferred step resolves before its batch is read');
        const last = await submit(undefined, true);
        const tokens = await Promise.all([...batch, last].map(async (s) => (await s.result).token));
        assert.deepEqual(tokens, expected.tokens.slice(1, 6));
        // Ten deferred steps: the batch closes by itself when full (8), readBackNow reads the rest.
        const deferred = [];
        for (let i = 0; i < 10; i++) deferred.push(await submit(undefined, false));
        await plan.readBackNow(deferred.at(-1)!.step);
        const rest = await Promise.all(deferred.map((s) => s.result));
        assert.deepEqual(
          rest.map((r) => r.token),
          expected.tokens.slice(6, 16),
        );
      } finally {
        plan.dispose();
        gpuModel.dispose();
      }
    });

  test('a planned step is 5 dispatches per layer + 3 (6 + 3 with the combine on its own); the count is what replays', async () => {
    const { gpuModel } = modelPair(backend, cases[0]!.config, 1);
    const layers = gpuModel.config.numLayers;
    const split = await DecodePlan.create(gpuModel, 16, { splits: 2 });
    const separate = await DecodePlan.create(gpuModel, 16, { splits: 2, fuseCombine: false });
    const single = await DecodePlan.create(gpuModel, 16); // 16 positions: one split by default
    try {
      assert.equal(split.dispatchesPerToken, 5 * layers + 3);
      assert.equal(split.dispatches.filter((d) => d.label.includes('combine·o-proj')).length, layers);
      assert.equal(separate.dispatchesPerToken, 6 * layers + 3);
      assert.equal(single.dispatchesPerToken, 5 * layers + 3);
      assert.equal(single.dispatches.filter((d) => d.label.includes('combine')).length, 0);
      for (const plan of [split, separate, single]) {
        const { token } = await plan.prefill([1, 2, 3]);
        await plan.step(token);
        for (let s = 0; s < 4; s++) await plan.step();
        assert.equal(plan.dispatchCount, 5 * plan.dispatchesPerToken);
        assert.ok(plan.dispatchCount / 5 <= 6 * layers + 3);
      }
    } finally {
      split.dispose();
      separate.dispose();
      single.dispose();
      gpuModel.dispose();
    }
  });

  test('profile times the step: host variants, the back-to-back period and GPU time by dispatch kind', async () => {
    const { gpuModel } = modelPair(backend, cases[0]!.config, 3);
    const plan = await DecodePlan.create(gpuModel, 16);
    try {
      const { token } = await plan.prefill([1, 2, 3]);
      await plan.step(token);
      const p = await plan.profile(4);
      for (const v of [p.hostMs, p.hostWithUniformMs, p.hostWithUniformAndCopyMs, p.streamMs])
        assert.ok(Number.isFinite(v) && v > 0);
      if (p.byLabel) {
        const counts = Object.values(p.byLabel).reduce((n, k) => n + k.count, 0);
        assert.equal(counts, plan.dispatchesPerToken);
        assert.ok('norm·lm-head·argmax' in p.byLabel && 'layer # norm·qkv' in p.byLabel);
        assert.ok(p.gpuMs !== null && p.gpuMs > 0);
      }
    } finally {
      plan.dispose();
      gpuModel.dispose();
    }
  });

  test('a prefill submits the prompt’s first dispatches early, as after a read-back', async () => {
    // The plan reads its tokens back itself, so the runtime's batching would otherwise stay at its
    // largest after the first prefill and the next prompt would reach the GPU only once wholly encoded.
    const { gpuModel } = modelPair(backend, cases[0]!.config, 3);
    const plan = await DecodePlan.create(gpuModel, 40);
    const queue = backend.runtime.device.queue;
    const submit = queue.submit.bind(queue);
    let submits = 0;
    queue.submit = (buffers) => {
      submits++;
      submit(buffers);
    };
    try {
      const prompt = Array.from({ length: 24 }, (_, i) => (i * 7 + 1) % 50);
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        submits = 0;
        const pending = plan.prefillSubmit(prompt);
        await (await pending).result;
        counts.push(submits);
      }
      // Every prefill submits the forward pass in several batches, not one at its end (without the
      // reset: 2, 2, 2 for this model).
      for (const count of counts) assert.ok(count >= 3, `submits per prefill: ${counts.join(', ')}`);
      assert.equal(counts[2], counts[0]);
    } finally {
      queue.submit = submit;
      plan.dispose();
      gpuModel.dispose();
    }
  });

  test('the plan refuses a full cache, a missing first token and an out-of-vocabulary token; a greedy prefill feeds the first step', async () => {
    const { gpuModel } = modelPair(backend, cases[0]!.config, 2);
    const plan = await DecodePlan.create(gpuModel, 4);
    try {
      // A prefill that returns its logits leaves no token on the GPU: the first step needs one.
      await plan.prefill([1, 2, 3], { logits: true });
      await assert.rejects(plan.step(), /pass one after prefill/);
      await assert.rejects(plan.step(1000), /outside the vocabulary/);
      await plan.step(5);
      await assert.rejects(plan.step(), /holds 4 positions/);
      // A greedy prefill leaves its token on the GPU as the next step's input.
      const first = await plan.prefill([1, 2, 3]);
      const fed = await plan.step();
      await plan.prefill([1, 2, 3]);
      assert.equal((await plan.step(first.token)).token, fed.token);
      await assert.rejects(
        DecodePlan.create(gpuModel, 4, { splits: 0 }),
        /splits must be a positive integer/,
      );
      await assert.rejects(
        DecodePlan.create(gpuModel, 64, { splits: 1e-3 }),
        /splits must be a positive integer/,
      );
      await assert.rejects(
        DecodePlan.create(gpuModel, 4, { matvecTuning: { 'layer # qkv': { lanes: 8 } } }),
        /tuning names kinds this plan has no matvec of: layer # qkv \(its kinds: .*layer # norm·qkv/,
      );
      await assert.rejects(
        DecodePlan.create(gpuModel, 4, { matvecTuning: { 'layer # norm·qkv': { lanes: 12 } } }),
        /lanes must be a power of 2/,
      );
    } finally {
      plan.dispose();
      gpuModel.dispose();
    }
  });
}
