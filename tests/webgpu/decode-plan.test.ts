/**
 * The planned decode step on webgpu against the eager cpu oracle: for several tiny Llama-style configs
 * (GQA 3:1, MQA with untied head and q/k/v bias, partial and interleaved RoPE, odd head dims and widths
 * that take the scalar kernels, several attention splits), the greedy tokens equal the cpu's token for
 * token and the logits are within 1e-4 at every step; dispatches per token are 6·layers + 3.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelConfigInput } from '../../src/config/model-config.js';
import { DecodePlan, subgroupsUsable } from '../../src/generate/decode-plan.js';
import { cpuGreedy, modelPair } from './decode-helpers.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

const cases: {
  name: string;
  config: ModelConfigInput;
  splits?: number;
  seed?: number;
  subgroups?: boolean;
  fuseCombine?: boolean;
}[] = [
  {
    name: 'GQA 3:1, tied head',
    config: {
      vocabSize: 97,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 6,
      numKeyValueHeads: 2,
      intermediateSize: 44,
    },
  },
  {
    name: 'MQA, untied head, q/k/v bias, 4 attention splits',
    config: {
      vocabSize: 130,
      hiddenSize: 32,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 1,
      tieWordEmbeddings: false,
      attentionBias: { q: true, k: true, v: true },
    },
    splits: 4,
  },
  {
    name: 'partial rotary 0.5, MHA, 3 layers',
    config: {
      vocabSize: 64,
      hiddenSize: 64,
      numLayers: 3,
      numAttentionHeads: 4,
      rope: { partialRotaryFactor: 0.5, theta: 500 },
    },
    splits: 3,
  },
  {
    name: 'odd head dim 9, width 30 (scalar kernels), partial rotary',
    config: {
      vocabSize: 50,
      hiddenSize: 30,
      numLayers: 2,
      numAttentionHeads: 3,
      numKeyValueHeads: 1,
      headDim: 9,
      intermediateSize: 22,
      rope: { partialRotaryFactor: 0.5 },
    },
    seed: 11,
  },
  {
    name: 'interleaved RoPE with llama3 scaling, o and MLP biases, explicit attention scale',
    config: {
      vocabSize: 70,
      hiddenSize: 40,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      attentionBias: true,
      mlpBias: true,
      attentionScale: 0.3,
      tieWordEmbeddings: false,
      rope: {
        interleaved: true,
        scaling: {
          type: 'llama3',
          factor: 8,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositionEmbeddings: 16,
        },
      },
    },
    splits: 5,
  },
  {
    name: 'vocabulary of 5000 (625 argmax blocks across the final reduction)',
    config: { vocabSize: 5000, hiddenSize: 32, numLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1 },
  },
];
cases.push(
  { ...cases[0]!, name: `${cases[0]!.name}, one split over 29 positions (two score passes)`, splits: 1 },
  { ...cases[1]!, name: `${cases[1]!.name}, combine as a dispatch of its own`, fuseCombine: false },
  {
    name: 'Qwen3-style per-head q/k RMSNorm, head dim 64, 3 splits',
    config: {
      vocabSize: 90,
      hiddenSize: 128,
      numLayers: 2,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    },
    splits: 3,
  },
  {
    name: 'sliding window 5 on every other layer, 3 splits (whole splits before the window)',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      slidingWindow: 5,
      layerTypes: ['sliding', 'full'],
    },
    splits: 3,
  },
  {
    name: 'sliding window 7, one split',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      slidingWindow: 7,
      layerTypes: ['sliding', 'sliding'],
    },
    splits: 1,
  },
  {
    name: 'MobileLLM-LS block sharing (each block twice), 3 splits',
    config: {
      vocabSize: 60,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 6,
      numKeyValueHeads: 2,
      intermediateSize: 40,
      layerSharing: { mode: 'immediate', repeats: 2 },
    },
    splits: 3,
  },
  {
    name: 'OpenELM layer-wise scaling (per-layer heads and FFN widths) with q/k norm',
    config: {
      vocabSize: 60,
      hiddenSize: 64,
      numLayers: 3,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      headDim: 16,
      layerScaling: {
        qkvMultipliers: [0.5, 1.0],
        ffnMultipliers: [0.5, 2.0],
        numGqaGroups: 2,
        ffnDimDivisor: 8,
      },
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    },
  },
  {
    name: 'Gemma2-like: sandwich (1 + w) norms, tanh-GELU, embedding scale, tight soft-caps, sliding layer',
    config: {
      vocabSize: 64,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      norm: { type: 'rmsnorm', eps: 1e-6, plusOne: true },
      normPlacement: 'sandwich',
      hiddenAct: 'gelu_tanh',
      embeddingScale: 4,
      attnLogitSoftcap: 2,
      finalLogitSoftcap: 4,
      slidingWindow: 6,
      layerTypes: ['sliding', 'full'],
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    },
    splits: 2,
    seed: 11,
  },
  {
    name: 'MLA without a query LoRA (DeepSeek-V2-Lite style), interleaved RoPE, 3 splits',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 4,
      headDim: 24,
      mla: {
        qLoraRank: null,
        kvLoraRank: 32,
        qkNopeHeadDim: 16,
        qkRopeHeadDim: 8,
        vHeadDim: 12,
        latentNormEps: 1e-6,
      },
      rope: { interleaved: true },
    },
    splits: 3,
  },
  {
    name: 'MLA with a latent rank of 30 (scalar latent cache reads, not vec4), 2 splits',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 3,
      headDim: 24,
      mla: { qLoraRank: null, kvLoraRank: 30, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 12 },
    },
    splits: 2,
  },
  {
    name: 'MLA with a query LoRA and MiniCPM scales (embedding, residual, logit)',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 3,
      numAttentionHeads: 2,
      headDim: 24,
      mla: { qLoraRank: 24, kvLoraRank: 40, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 20 },
      embeddingScale: 3,
      residualScale: 0.7,
      logitScale: 0.5,
    },
  },
  {
    name: 'GPT-2-like: LayerNorm with bias, learned positions, standard GELU (erf) FFN, all biases',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 4,
      intermediateSize: 96,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      positionEmbedding: 'learned',
      ffnType: 'standard',
      hiddenAct: 'gelu',
      attentionBias: { q: true, k: true, v: true, o: true },
      mlpBias: true,
      maxPositionEmbeddings: 64,
    },
    splits: 2,
  },
  {
    name: 'Pythia-like: parallel block with two LayerNorms, partial rotary 0.25, ReLU FFN',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      intermediateSize: 80,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      blockTopology: 'parallel_two_norms',
      rope: { partialRotaryFactor: 0.25 },
      ffnType: 'standard',
      hiddenAct: 'relu',
      mlpBias: true,
    },
  },
  {
    name: 'Phi-like: parallel block with one LayerNorm, tanh-GELU FFN, LM head bias',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      intermediateSize: 80,
      norm: { type: 'layernorm', eps: 1e-5, bias: true },
      blockTopology: 'parallel',
      rope: { partialRotaryFactor: 0.5 },
      ffnType: 'standard',
      hiddenAct: 'gelu_tanh',
      tieWordEmbeddings: false,
      lmHeadBias: true,
    },
  },
  {
    name: 'OLMo2-like: post-norms, q/k RMSNorm over the whole projections, 3 splits',
    config: {
      vocabSize: 70,
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      normPlacement: 'post',
      qkNorm: { type: 'rmsnorm', scope: 'projection', perHeadWeights: false, bias: false },
      tieWordEmbeddings: false,
    },
    splits: 3,
  },
  {
    name: 'MoE: 8 experts, top-3 of softmax scores renormalised, 2 groups (max), 2 shared experts, dense first layer',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 3,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 64,
      moe: {
        numExperts: 8,
        numExpertsPerToken: 3,
        moeIntermediateSize: 20,
        numSharedExperts: 2,
        firstKDenseReplace: 1,
        normTopkProb: true,
        routedScalingFactor: 1.5,
        scoringFunc: 'softmax',
        correctionBias: false,
        groupLimit: { numGroups: 2, topkGroup: 1, groupScore: 'max' },
      },
    },
    splits: 2,
  },
  {
    name: 'MoE: sigmoid scores with top-2 sums per group, no shared experts',
    config: {
      vocabSize: 70,
      hiddenSize: 48,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      moe: {
        numExperts: 6,
        numExpertsPerToken: 2,
        moeIntermediateSize: 24,
        numSharedExperts: 0,
        firstKDenseReplace: 0,
        normTopkProb: false,
        routedScalingFactor: 1,
        scoringFunc: 'sigmoid',
        correctionBias: false,
        groupLimit: { numGroups: 3, topkGroup: 2, groupScore: 'top2_sum' },
      },
    },
  },
  {
    name: 'MoE with rows of odd lengths (scalar expert loads): hidden 42, expert width 18, a shared expert',
    config: {
      vocabSize: 71,
      hiddenSize: 42,
      numLayers: 2,
      numAttentionHeads: 3,
      numKeyValueHeads: 1,
      moe: {
        numExperts: 5,
        numExpertsPerToken: 3,
        moeIntermediateSize: 18,
        numSharedExperts: 1,
        firstKDenseReplace: 0,
        normTopkProb: true,
        routedScalingFactor: 1,
        scoringFunc: 'softmax',
        correctionBias: false,
      },
    },
  },
  {
    name: 'head dim 128 (two output dims per invocation), GQA 2:1',
    config: { vocabSize: 80, hiddenSize: 256, numLayers: 2, numAttentionHeads: 2, numKeyValueHeads: 1 },
  },
);
// The same shapes with barrier-tree reductions (the default uses subgroups where the device has them).
for (const i of [0, 1, 3, cases.findIndex((c) => c.name.startsWith('GPT-2-like'))])
  cases.push({ ...cases[i]!, name: `${cases[i]!.name}, no subgroups`, subgroups: false });

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

  for (const { name, config, splits, seed = 7, subgroups, fuseCombine } of cases) {
    test(`planned decode equals the cpu, token for token and logits within 1e-4: ${name}`, async () => {
      const { cpuModel, gpuModel } = modelPair(backend, config, seed);
      const prompt = [3, 1, 4, 1, 5];
      const steps = 24;
      const expected = cpuGreedy(cpuModel, prompt, steps);
      const plan = await DecodePlan.create(gpuModel, prompt.length + steps, {
        ...(splits ? { splits } : {}),
        ...(subgroups === undefined ? {} : { subgroups }),
        ...(fuseCombine === undefined ? {} : { fuseCombine }),
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

  test('steps submitted ahead resolve to the greedy tokens in order; rewind re-runs a position', async () => {
    const { cpuModel, gpuModel } = modelPair(backend, cases[0]!.config, 9);
    const prompt = [2, 7, 1];
    const expected = cpuGreedy(cpuModel, prompt, 6);
    const plan = await DecodePlan.create(gpuModel, 12);
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

  test('the plan refuses a full cache, a missing first token and an out-of-vocabulary token', async () => {
    const { gpuModel } = modelPair(backend, cases[0]!.config, 2);
    const plan = await DecodePlan.create(gpuModel, 4);
    try {
      await plan.prefill([1, 2, 3]);
      await assert.rejects(plan.step(), /pass one after prefill/);
      await assert.rejects(plan.step(1000), /outside the vocabulary/);
      await plan.step(5);
      await assert.rejects(plan.step(), /holds 4 positions/);
      await assert.rejects(
        DecodePlan.create(gpuModel, 4, { splits: 0 }),
        /splits must be a positive integer/,
      );
      await assert.rejects(
        DecodePlan.create(gpuModel, 64, { splits: 1e-3 }),
        /splits must be a positive integer/,
      );
    } finally {
      plan.dispose();
      gpuModel.dispose();
    }
  });
}
