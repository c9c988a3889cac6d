/**
 * stablelm (StableLM-2, StableLM-3B-4E1T, StableLM-zephyr): LayerNorm with bias, SwiGLU without bias,
 * partial rotary (0.25), q/k/v biases per `use_qkv_bias`, optional per-head LayerNorm of q and k
 * (`q_layernorm.norms.{h}.weight`, stacked to our [heads, head_dim]), optional parallel residual with
 * one norm.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { readCore, writeCore } from './llama-like.js';
import { RuleBuilder, type TensorRule } from './tensor-map.js';
import type { FamilyAdapter } from './types.js';

export const stablelm: FamilyAdapter = {
  modelType: 'stablelm',
  examples: ['stabilityai/stablelm-2-1_6b', 'stabilityai/stablelm-zephyr-3b'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'stablelm');
    const core = readCore(r, {
      tie: false,
      eps: 1e-5,
      epsKey: 'layer_norm_eps',
      act: 'silu',
      maxPositions: 4096,
      rope: { theta: 10000, partialRotaryFactor: 0.25 },
    });
    const qkvBias = r.bool('use_qkv_bias', false);
    return defineConfig({
      ...core,
      headDim: Math.floor(core.hiddenSize / core.numAttentionHeads),
      norm: { type: 'layernorm', eps: core.norm.eps, bias: true },
      attentionBias: { q: qkvBias, k: qkvBias, v: qkvBias, o: false },
      qkNorm: r.bool('qk_layernorm', false)
        ? { type: 'layernorm', scope: 'head', perHeadWeights: true, bias: false }
        : null,
      blockTopology: r.bool('use_parallel_residual', false) ? 'parallel' : 'sequential',
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    const { rms_norm_eps: eps, head_dim: _, ...core } = writeCore(c, 'stablelm', 'StableLmForCausalLM');
    return {
      ...core,
      layer_norm_eps: eps,
      partial_rotary_factor: c.rope.partialRotaryFactor,
      use_qkv_bias: c.attentionBias.q,
      qk_layernorm: c.qkNorm !== null,
      use_parallel_residual: c.blockTopology === 'parallel',
      hidden_dropout: 0,
      attention_dropout: 0,
    };
  },
  tensorRules(c: ModelConfig): TensorRule[] {
    const b = new RuleBuilder(c);
    if (c.qkNorm) {
      for (let i = 0; i < c.numLayers; i++) {
        const p = `model.layers.${i}.self_attn`;
        for (const [x, heads] of [
          ['q', c.numAttentionHeads],
          ['k', c.numKeyValueHeads],
        ] as const) {
          for (let h = 0; h < heads; h++) {
            b.blocks(
              `${p}.${x}_layernorm.norms.${h}.weight`,
              [{ path: `${p}.${x}_norm.weight`, start: h, rows: 1 }],
              false,
              [c.headDim],
            );
          }
        }
      }
    }
    return b.renameRest((path) => path).build();
  },
};
