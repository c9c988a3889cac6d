/**
 * deepseek_v2 (DeepSeek-V2/V2-Lite): MLA with interleaved RoPE on the decoupled key, YaRN whose
 * mscale_all_dim also scales the softmax (as the original remote code and transformers after PR
 * #47435), DeepSeekMoE with softmax routing (greedy or group-limited greedy) and shared experts.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { identityRules, readCore, writeCore } from './llama-like.js';
import { mlaAttentionScale, readDeepseekMoE, readMLA, writeDeepseekMoE, writeMLA } from './mla.js';
import type { FamilyAdapter } from './types.js';

/** deepseek_v2 and deepseek_v3 differ in routing defaults and the RoPE layout key. */
export function readDeepseek(hf: HFConfig, version: 2 | 3): ModelConfig {
  const r = new HFConfigReader(hf, `deepseek_v${version}`);
  const interleaved = version === 2 ? true : r.bool('rope_interleave', true);
  const core = readCore(r, {
    tie: false,
    eps: 1e-6,
    act: 'silu',
    maxPositions: 2048,
    rope: { theta: 10000, interleaved },
  });
  const mla = readMLA(r, 128);
  const bias = r.bool('attention_bias', false);
  return defineConfig({
    ...core,
    numKeyValueHeads: core.numAttentionHeads,
    headDim: mla.qkNopeHeadDim + mla.qkRopeHeadDim,
    mla,
    moe: readDeepseekMoE(r, version),
    attentionBias: bias,
    mlpBias: r.bool('mlp_bias', false),
    attentionScale: mlaAttentionScale(mla, core.rope),
  });
}

export function writeDeepseek(c: ModelConfig, version: 2 | 3): HFConfig {
  if (!c.mla) throw new Error(`deepseek_v${version} needs multi-head latent attention (config.mla)`);
  const arch = version === 2 ? 'DeepseekV2ForCausalLM' : 'DeepseekV3ForCausalLM';
  const { head_dim: _, ...core } = writeCore(c, `deepseek_v${version}`, arch);
  return {
    ...core,
    ...writeMLA(c.mla),
    ...writeDeepseekMoE(c, version),
    ...(version === 3 ? { rope_interleave: c.rope.interleaved } : {}),
    attention_bias: c.attentionBias.o,
    mlp_bias: c.mlpBias,
  };
}

export const deepseekV2: FamilyAdapter = {
  modelType: 'deepseek_v2',
  examples: ['deepseek-ai/DeepSeek-V2-Lite'],
  toConfig: (hf) => readDeepseek(hf, 2),
  fromConfig: (c) => writeDeepseek(c, 2),
  tensorRules: identityRules,
};
