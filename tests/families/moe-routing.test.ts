/**
 * DeepSeek routing variants that the adapters select: plain greedy top-k, V2's group_limited_greedy
 * (a group's score is its best expert) and V3's noaux_tc (sum of its two best). One token whose router
 * scores make the three rules pick three different expert pairs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../src/backend/cpu/index.js';
import { defineConfig, type MoEConfig } from '../../src/config/model-config.js';
import { familyFor } from '../../src/families/index.js';
import { denseFFN, moeFFN } from '../../src/model/ffn.js';
import { Transformer } from '../../src/model/transformer.js';
import { add, affine, tensor } from '../../src/ops/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';

function routed(groupLimit: MoEConfig['groupLimit']): {
  out: number[];
  expected: (experts: number[]) => number[];
} {
  const moe: MoEConfig = {
    numExperts: 4,
    numExpertsPerToken: 2,
    moeIntermediateSize: 3,
    numSharedExperts: 0,
    firstKDenseReplace: 0,
    normTopkProb: false,
    routedScalingFactor: 1,
    scoringFunc: 'softmax',
    correctionBias: false,
    groupLimit,
  };
  const config = defineConfig({ vocabSize: 8, hiddenSize: 2, numLayers: 1, numAttentionHeads: 1, moe });
  const params = Transformer.init(config, { seed: 2, dtype: 'float64' }).params;
  // Router logits for x = [1, 0]: [2, 0, 1.5, 1.4] -> softmax ∝ [7.39, 1, 4.48, 4.06].
  params.set(
    'model.layers.0.mlp.gate.weight',
    tensor(Float64Array.from([2, 0, 0, 0, 1.5, 0, 1.4, 0]), [4, 2]),
  );
  const x = tensor(Float64Array.from([1, 0]), [1, 1, 2]);
  const param = (p: string) => params.get(p)!;
  const optional = (p: string) => params.get(p) ?? null;
  const out = Array.from(moeFFN(x, 'model.layers.0.mlp', config, param, optional).dataSync());
  const logits = [2, 0, 1.5, 1.4];
  const z = logits.reduce((n, l) => n + Math.exp(l), 0);
  const expected = (experts: number[]) => {
    let sum: Tensor | null = null;
    for (const e of experts) {
      const y = affine(
        denseFFN(x, `model.layers.0.mlp.experts.${e}`, config, param, optional),
        Math.exp(logits[e]!) / z,
        0,
      );
      sum = sum ? add(sum, y) : y;
    }
    return Array.from(sum!.dataSync());
  };
  return { out, expected };
}

function close(a: number[], b: number[]): void {
  assert.equal(a.length, b.length);
  for (const [i, v] of a.entries()) assert.ok(Math.abs(v - b[i]!) < 1e-12, `${a} vs ${b}`);
}

test('greedy top-2 picks experts 0 and 2', () => {
  const { out, expected } = routed(null);
  close(out, expected([0, 2]));
});

test('group_limited_greedy (group score = max) keeps group {0, 1}', () => {
  const { out, expected } = routed({ numGroups: 2, topkGroup: 1, groupScore: 'max' });
  close(out, expected([0, 1]));
});

test('noaux_tc (group score = sum of the two best) keeps group {2, 3}', () => {
  const { out, expected } = routed({ numGroups: 2, topkGroup: 1, groupScore: 'top2_sum' });
  close(out, expected([2, 3]));
});

test('deepseek configs select the routing rule', () => {
  const base = {
    vocab_size: 16,
    hidden_size: 8,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    kv_lora_rank: 4,
    q_lora_rank: null,
    qk_nope_head_dim: 2,
    qk_rope_head_dim: 2,
    v_head_dim: 2,
    n_routed_experts: 4,
    num_experts_per_tok: 2,
    moe_intermediate_size: 2,
    n_group: 2,
    topk_group: 1,
  };
  const v2 = familyFor('deepseek_v2').toConfig({
    ...base,
    model_type: 'deepseek_v2',
    topk_method: 'group_limited_greedy',
  });
  assert.deepEqual(v2.moe?.groupLimit, { numGroups: 2, topkGroup: 1, groupScore: 'max' });
  assert.equal(v2.moe?.scoringFunc, 'softmax');
  assert.equal(v2.rope.interleaved, true);
  const greedy = familyFor('deepseek_v2').toConfig({ ...base, model_type: 'deepseek_v2' });
  assert.equal(greedy.moe?.groupLimit, null);
  const v3 = familyFor('deepseek_v3').toConfig({ ...base, model_type: 'deepseek_v3' });
  assert.deepEqual(v3.moe?.groupLimit, { numGroups: 2, topkGroup: 1, groupScore: 'top2_sum' });
  assert.equal(v3.moe?.scoringFunc, 'sigmoid');
  assert.equal(v3.moe?.correctionBias, true);
  assert.equal(v3.mla?.latentNormEps, 1e-6);
  assert.throws(
    () => familyFor('deepseek_v2').toConfig({ ...base, model_type: 'deepseek_v2', topk_method: 'noaux' }),
    /topk_method.*'noaux' is not supported/,
  );
});
