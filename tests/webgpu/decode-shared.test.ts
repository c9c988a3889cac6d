/**
 * Shared bind groups (DecodePlanOptions.sharedBindings, decode-plan-share.ts): every planned-decode
 * feature config records a step whose layers bind twice and whose kernels read their activations from
 * one arena and write them into the other, through rewritten indices; its logits equal the
 * per-dispatch plan's bit for bit, and so do its tokens. Also the WGSL rewrite's own rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { sharedBindingsByDefault } from '../../src/generate/decode-plan-options.js';
import { parseDeclarations, rewriteIndexing } from '../../src/generate/decode-plan-share.js';
import type { Transformer } from '../../src/model/transformer.js';
import { modelPair } from './decode-helpers.js';
import { planCases } from './decode-plan-cases.js';
import { requireWebGPU } from './setup.js';

test('rewriteIndexing rewrites nested accesses and refuses what it cannot rewrite', () => {
  const code = 'let a = x[i + x[j]] * x [k];\nout[y] = 1.0; max[2];';
  assert.equal(
    rewriteIndexing(code, 'x', (i) => `V[4u + (${i})]`),
    'let a = V[4u + (i + V[4u + (j)])] * V[4u + (k)];\nout[y] = 1.0; max[2];',
  );
  assert.throws(() => rewriteIndexing('f(&x);', 'x', (i) => i), /other than indexed/);
  assert.throws(() => rewriteIndexing('let x = 1.0; y[x];', 'x', (i) => i), /local name/);
});

test('parseDeclarations reads the planned kernels’ bindings and refuses other types', () => {
  const decls = parseDeclarations(
    '@group(0) @binding(0) var<uniform> step: Step;\n@group(0) @binding(2) var<storage, read> W0: array<vec4<u32>, 96>;\n@group(0) @binding(3) var<storage, read_write> out: array<f32>;',
  );
  assert.deepEqual(
    decls.map((d) => [d.binding, d.name, d.access, d.elem]),
    [
      [0, 'step', 'uniform', 'Step'],
      [2, 'W0', 'read', 'vec4<u32>'],
      [3, 'out', 'read_write', 'f32'],
    ],
  );
  assert.throws(() => parseDeclarations('@group(0) @binding(1) var<storage, read> s: S;'), /unsupported/);
});

test('shared bind groups are the default where a dispatch streams at most 16 MB of weights', () => {
  // A stand-in with the presets' layer sizes: SmolLM2-135M (30 layers of 3.54M parameters), Llama-3.2-1B
  // (16 of 60.8M); the embedding does not count.
  const model = (layers: number, perLayer: number) =>
    ({
      order: Array.from({ length: layers }, (_, i) => i),
      params: new Map([
        ['model.embed_tokens.weight', { size: 1e9 }],
        ...Array.from(
          { length: layers },
          (_, i) => [`model.layers.${i}.mlp.weight`, { size: perLayer }] as const,
        ),
      ]),
    }) as unknown as Transformer;
  const saved = process.env.SLM_SHARED_BINDINGS;
  try {
    delete process.env.SLM_SHARED_BINDINGS;
    assert.equal(sharedBindingsByDefault(model(30, 3.54e6)), true);
    assert.equal(sharedBindingsByDefault(model(16, 60.8e6)), false);
    process.env.SLM_SHARED_BINDINGS = '1';
    assert.equal(sharedBindingsByDefault(model(16, 60.8e6)), true);
    process.env.SLM_SHARED_BINDINGS = '0';
    assert.equal(sharedBindingsByDefault(model(30, 3.54e6)), false);
  } finally {
    if (saved === undefined) delete process.env.SLM_SHARED_BINDINGS;
    else process.env.SLM_SHARED_BINDINGS = saved;
  }
});

const backend = await requireWebGPU();

if (backend) {
  for (const { name, config, splits, seed = 7, subgroups, fuseCombine, matvecTuning } of planCases)
    test(`shared bind groups give the per-dispatch plan's logits and tokens: ${name}`, async () => {
      const { gpuModel } = modelPair(backend, config, seed);
      const prompt = [3, 1, 4, 1, 5];
      const steps = 8;
      const options = {
        weights: 'bf16' as const,
        ...(splits ? { splits } : {}),
        ...(subgroups === undefined ? {} : { subgroups }),
        ...(fuseCombine === undefined ? {} : { fuseCombine }),
        ...(matvecTuning ? { matvecTuning } : {}),
      };
      const run = async (sharedBindings: boolean) => {
        const plan = await DecodePlan.create(gpuModel, prompt.length + steps, { ...options, sharedBindings });
        try {
          assert.equal(plan.sharedBindingsFailure, null);
          assert.equal(plan.sharedBindings, sharedBindings);
          const first = await plan.prefill(prompt);
          const out = { tokens: [first.token], logits: [] as Float32Array[] };
          for (let s = 1; s <= steps; s++) {
            const r = await plan.step(s === 1 ? first.token : undefined, { logits: true });
            out.tokens.push(r.token);
            out.logits.push(r.logits!);
          }
          // Layers bind once: fewer distinct bind groups than dispatches.
          const groups = new Set(plan.dispatches.map((d) => d.bindGroup1 ?? d.bindGroup));
          // Dispatches that read their activations through neither arena group.
          const outside = plan.dispatches
            .filter((d) => !d.bindGroup2 && !d.bindGroup3)
            .map((d) => d.label.replace(/\d+/g, '#'));
          return { ...out, groups: groups.size, dispatches: plan.dispatches.length, outside };
        } finally {
          plan.dispose();
        }
      };
      try {
        const classic = await run(false);
        const shared = await run(true);
        assert.deepEqual(shared.tokens, classic.tokens);
        for (let s = 0; s < steps; s++)
          assert.deepEqual(shared.logits[s], classic.logits[s], `step ${s + 1}`);
        assert.equal(shared.dispatches, classic.dispatches);
        assert.equal(classic.groups, classic.dispatches);
        // Every kernel that reads or writes activations does so through the two arenas, but for the
        // down projection of sandwich and post norms (gate/up → down → norm·add is a cycle of three,
        // which two arenas cannot colour); the argmax, the MoE routing and MLA's query absorption touch
        // none.
        const allowed = /^(argmax|layer # (route|absorb q|q_a norm·q_b))$/;
        const expectedLoose = /Gemma2|OLMo2/.test(name) ? ['layer # down+residual'] : [];
        assert.deepEqual(
          [...new Set(shared.outside.filter((l) => !allowed.test(l)))],
          expectedLoose,
          `dispatches outside the arenas: ${shared.outside.join(', ')}`,
        );
        // MoE layers and MLA with a query LoRA read a written buffer as two element types: their
        // dispatches keep a group each (still through the rewrite); every other layer binds once.
        if (/MoE|query LoRA/.test(name)) assert.ok(shared.groups <= classic.groups);
        else
          assert.ok(
            shared.groups < classic.groups,
            `${shared.groups} groups for ${shared.dispatches} dispatches`,
          );
      } finally {
        gpuModel.dispose();
      }
    });
}
