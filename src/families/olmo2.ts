/**
 * olmo2 (OLMo-2): norms after each sublayer inside the residual (no input norm), RMSNorm of q and k
 * over the whole projection (H·d_h and G·d_h) before the head reshape and RoPE.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { identityRules, readCore, writeCore } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const olmo2: FamilyAdapter = {
  modelType: 'olmo2',
  examples: ['allenai/OLMo-2-0425-1B', 'allenai/OLMo-2-1124-7B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'olmo2');
    return defineConfig({
      ...readCore(r, { tie: false, eps: 1e-5, act: 'silu', maxPositions: 2048, rope: { theta: 10000 } }),
      attentionBias: r.bool('attention_bias', false),
      normPlacement: 'post',
      qkNorm: { type: 'rmsnorm', scope: 'projection', perHeadWeights: false, bias: false },
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return { ...writeCore(c, 'olmo2', 'Olmo2ForCausalLM'), attention_bias: c.attentionBias.q };
  },
  tensorRules: identityRules,
};
