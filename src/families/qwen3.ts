/** qwen3: explicit head_dim, per-head RMSNorm of q and k before RoPE, `attention_bias` flag. */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { identityRules, readCore, readQwenSliding, writeCore, writeQwenSliding } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const qwen3: FamilyAdapter = {
  modelType: 'qwen3',
  examples: ['Qwen/Qwen3-0.6B', 'Qwen/Qwen3-1.7B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'qwen3');
    const core = readCore(r, {
      tie: false,
      eps: 1e-6,
      act: 'silu',
      maxPositions: 32768,
      headDim: 128,
      rope: { theta: 10000 },
    });
    return defineConfig({
      ...core,
      ...readQwenSliding(r, core.numLayers),
      attentionBias: r.bool('attention_bias', false),
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      ...writeCore(c, 'qwen3', 'Qwen3ForCausalLM'),
      ...writeQwenSliding(c),
      attention_bias: c.attentionBias.q,
    };
  },
  tensorRules: identityRules,
};
