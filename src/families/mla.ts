/**
 * Multi-head latent attention and DeepSeek MoE keys shared by deepseek_v2, deepseek_v3 and minicpm3.
 * HF builds the latent norms (q_a_layernorm, kv_a_layernorm) with the RMSNorm default ε = 1e-6,
 * not `rms_norm_eps`.
 */
import type { MLAConfig, ModelConfig, MoEConfig, RopeConfig } from '../config/model-config.js';
import { yarnMscale } from '../model/rope.js';
import { type HFConfig, HFConfigError, type HFConfigReader } from './hf-config.js';

export const MLA_LATENT_NORM_EPS = 1e-6;

export function readMLA(r: HFConfigReader, vHeadDefault: number): MLAConfig {
  return {
    qLoraRank: r.optionalInt('q_lora_rank'),
    kvLoraRank: r.int('kv_lora_rank'),
    qkNopeHeadDim: r.int('qk_nope_head_dim'),
    qkRopeHeadDim: r.int('qk_rope_head_dim'),
    vHeadDim: r.int('v_head_dim', vHeadDefault),
    latentNormEps: MLA_LATENT_NORM_EPS,
  };
}

export function writeMLA(m: MLAConfig): HFConfig {
  return {
    q_lora_rank: m.qLoraRank,
    kv_lora_rank: m.kvLoraRank,
    qk_nope_head_dim: m.qkNopeHeadDim,
    qk_rope_head_dim: m.qkRopeHeadDim,
    v_head_dim: m.vHeadDim,
  };
}

/** DeepSeek's softmax scale: (nope + rope)^-0.5, times mscale² under YaRN with mscale_all_dim. */
export function mlaAttentionScale(m: MLAConfig, rope: RopeConfig): number | null {
  const s = rope.scaling;
  if (!s || s.mscaleAllDim === undefined) return null;
  const mscale = yarnMscale(s.factor, s.mscaleAllDim);
  return (m.qkNopeHeadDim + m.qkRopeHeadDim) ** -0.5 * mscale * mscale;
}

/** The MoE block of a DeepSeek config (null when the model is dense). */
export function readDeepseekMoE(r: HFConfigReader, version: 2 | 3): MoEConfig | null {
  const experts = r.optionalInt('n_routed_experts');
  if (experts === null || experts === 0) return null;
  if (r.int('moe_layer_freq', 1) !== 1) {
    throw new HFConfigError(
      r.modelType,
      'moe_layer_freq',
      'other than 1 is not supported (MoE on every layer from first_k_dense_replace)',
    );
  }
  const numGroups = r.int('n_group', 1);
  const topkGroup = r.int('topk_group', numGroups);
  let groupLimit: MoEConfig['groupLimit'] = null;
  if (version === 3) {
    groupLimit = { numGroups, topkGroup, groupScore: 'top2_sum' };
  } else {
    const method = r.string('topk_method', 'greedy');
    if (method === 'group_limited_greedy') groupLimit = { numGroups, topkGroup, groupScore: 'max' };
    else if (method !== 'greedy') {
      throw new HFConfigError(
        r.modelType,
        'topk_method',
        `'${method}' is not supported (greedy, group_limited_greedy)`,
      );
    }
  }
  const scoring = r.string('scoring_func', version === 3 ? 'sigmoid' : 'softmax');
  if (scoring !== 'softmax' && scoring !== 'sigmoid') {
    throw new HFConfigError(r.modelType, 'scoring_func', `'${scoring}' is not supported (softmax, sigmoid)`);
  }
  return {
    numExperts: experts,
    numExpertsPerToken: r.int('num_experts_per_tok'),
    moeIntermediateSize: r.int('moe_intermediate_size'),
    numSharedExperts: r.int('n_shared_experts', 0),
    firstKDenseReplace: r.int('first_k_dense_replace', 0),
    normTopkProb: r.bool('norm_topk_prob', false),
    routedScalingFactor: r.number('routed_scaling_factor', 1),
    scoringFunc: scoring,
    correctionBias: version === 3,
    groupLimit,
  };
}

export function writeDeepseekMoE(c: ModelConfig, version: 2 | 3): HFConfig {
  const moe = c.moe;
  if (!moe) return { n_routed_experts: null, first_k_dense_replace: 0 };
  if (moe.correctionBias !== (version === 3) || moe.scoringFunc !== (version === 3 ? 'sigmoid' : 'softmax')) {
    throw new Error(
      `deepseek_v${version} cannot express scoringFunc '${moe.scoringFunc}' with correctionBias ${moe.correctionBias}`,
    );
  }
  const g = moe.groupLimit;
  return {
    n_routed_experts: moe.numExperts,
    num_experts_per_tok: moe.numExpertsPerToken,
    moe_intermediate_size: moe.moeIntermediateSize,
    n_shared_experts: moe.numSharedExperts,
    first_k_dense_replace: moe.firstKDenseReplace,
    norm_topk_prob: moe.normTopkProb,
    routed_scaling_factor: moe.routedScalingFactor,
    scoring_func: moe.scoringFunc,
    n_group: g?.numGroups ?? 1,
    topk_group: g?.topkGroup ?? 1,
    ...(version === 2 ? { topk_method: g ? 'group_limited_greedy' : 'greedy' } : { topk_method: 'noaux_tc' }),
    moe_layer_freq: 1,
  };
}
