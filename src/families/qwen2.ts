/** qwen2 (Qwen2, Qwen2.5): Llama with q/k/v biases (never o), optional sliding layers. */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { identityRules, readCore, readQwenSliding, writeCore, writeQwenSliding } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const qwen2: FamilyAdapter = {
  modelType: 'qwen2',
  examples: ['Qwen/Qwen2.5-0.5B', 'Qwen/Qwen2-1.5B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'qwen2');
    const core = readCore(r, {
      tie: false,
      eps: 1e-6,
      act: 'silu',
      maxPositions: 32768,
      rope: { theta: 10000 },
    });
    return defineConfig({
      ...core,
      ...readQwenSliding(r, core.numLayers),
      attentionBias: { q: true, k: true, v: true, o: false },
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    const { head_dim: _, ...core } = writeCore(c, 'qwen2', 'Qwen2ForCausalLM');
    if (c.headDim !== Math.floor(c.hiddenSize / c.numAttentionHeads)) core.head_dim = c.headDim;
    return { ...core, ...writeQwenSliding(c) };
  },
  tensorRules: identityRules,
};
