/**
 * phi (Phi-1, Phi-1.5, Phi-2): parallel block with one LayerNorm feeding attention and MLP, biases on
 * every linear including lm_head, partial rotary, standard FFN fc1/fc2 with tanh-GELU, optional
 * LayerNorm(head_dim) of q and k (`qk_layernorm`, shared over heads).
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { activationToHF, type HFConfig, HFConfigReader, ropeScalingToHF, tokensToHF } from './hf-config.js';
import { readCore } from './llama-like.js';
import { RuleBuilder, type TensorRule } from './tensor-map.js';
import type { FamilyAdapter } from './types.js';

const NAMES: [RegExp, string][] = [
  [/\.self_attn\.o_proj\./, '.self_attn.dense.'],
  [/\.self_attn\.q_norm\./, '.self_attn.q_layernorm.'],
  [/\.self_attn\.k_norm\./, '.self_attn.k_layernorm.'],
  [/\.mlp\.up_proj\./, '.mlp.fc1.'],
  [/\.mlp\.down_proj\./, '.mlp.fc2.'],
  [/^model\.norm\./, 'model.final_layernorm.'],
];

export const phi: FamilyAdapter = {
  modelType: 'phi',
  examples: ['microsoft/phi-1_5', 'microsoft/phi-2'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'phi');
    const core = readCore(r, {
      tie: false,
      eps: 1e-5,
      epsKey: 'layer_norm_eps',
      act: 'gelu_new',
      maxPositions: 2048,
      rope: { theta: 10000, partialRotaryFactor: 0.5 },
    });
    return defineConfig({
      ...core,
      // PhiAttention always uses hidden_size / num_attention_heads.
      headDim: Math.floor(core.hiddenSize / core.numAttentionHeads),
      norm: { type: 'layernorm', eps: core.norm.eps, bias: true },
      blockTopology: 'parallel',
      ffnType: 'standard',
      mlpBias: true,
      attentionBias: true,
      lmHeadBias: true,
      qkNorm: r.bool('qk_layernorm', false)
        ? { type: 'layernorm', scope: 'head', perHeadWeights: false, bias: true }
        : null,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      architectures: ['PhiForCausalLM'],
      model_type: 'phi',
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      intermediate_size: c.intermediateSize,
      num_hidden_layers: c.numLayers,
      num_attention_heads: c.numAttentionHeads,
      num_key_value_heads: c.numKeyValueHeads,
      hidden_act: activationToHF(c.hiddenAct, 'gelu_new'),
      max_position_embeddings: c.maxPositionEmbeddings,
      layer_norm_eps: c.norm.eps,
      rope_theta: c.rope.theta,
      rope_scaling: ropeScalingToHF(c.rope.scaling),
      partial_rotary_factor: c.rope.partialRotaryFactor,
      qk_layernorm: c.qkNorm !== null,
      tie_word_embeddings: c.tieWordEmbeddings,
      resid_pdrop: 0,
      embd_pdrop: 0,
      attention_dropout: 0,
      ...tokensToHF(c),
    };
  },
  tensorRules(c: ModelConfig): TensorRule[] {
    return new RuleBuilder(c)
      .renameRest((path) => NAMES.reduce((name, [from, to]) => name.replace(from, to), path))
      .build();
  },
};
