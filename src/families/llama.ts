/**
 * llama: TinyLlama, SmolLM/SmolLM2, Llama-3.2, AMD-Llama, MobileLLM weights re-saved as Llama. RMSNorm
 * pre-norm, SwiGLU, RoPE (llama3 scaling), `attention_bias` on all four projections, `mlp_bias`.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import type { HFConfig } from './hf-config.js';
import { HFConfigReader } from './hf-config.js';
import { identityRules, readCore, writeCore } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const llama: FamilyAdapter = {
  modelType: 'llama',
  examples: ['TinyLlama/TinyLlama-1.1B', 'HuggingFaceTB/SmolLM2-135M', 'meta-llama/Llama-3.2-1B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'llama');
    const bias = r.bool('attention_bias', false);
    return defineConfig({
      ...readCore(r, { tie: false, eps: 1e-6, act: 'silu', maxPositions: 2048, rope: { theta: 10000 } }),
      attentionBias: bias,
      mlpBias: r.bool('mlp_bias', false),
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      ...writeCore(c, 'llama', 'LlamaForCausalLM'),
      attention_bias: c.attentionBias.q,
      mlp_bias: c.mlpBias,
    };
  },
  tensorRules: identityRules,
};
