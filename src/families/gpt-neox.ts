/**
 * gpt_neox (Pythia, Dolly-v2): parallel residual with two LayerNorms (or sequential when
 * `use_parallel_residual` is false), partial rotary (`rotary_pct`, v5: rope_parameters), exact GELU MLP
 * with biases, untied `embed_out`. `query_key_value` interleaves per head: rows [q_h | k_h | v_h] for
 * each head h in turn, unlike GPT-2's and Phi-3's contiguous [Q | K | V].
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import {
  activationToHF,
  type HFConfig,
  HFConfigReader,
  ropeFromHF,
  ropeScalingToHF,
  tokensToHF,
} from './hf-config.js';
import { type RowBlock, RuleBuilder, type TensorRule } from './tensor-map.js';
import type { FamilyAdapter } from './types.js';

export const gptNeox: FamilyAdapter = {
  modelType: 'gpt_neox',
  examples: ['EleutherAI/pythia-160m', 'EleutherAI/pythia-1.4b', 'databricks/dolly-v2-3b'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'gpt_neox');
    const d = r.int('hidden_size');
    const heads = r.int('num_attention_heads');
    const { rope } = ropeFromHF(r, {
      theta: 10000,
      partialRotaryFactor: 0.25,
      thetaKeys: ['rotary_emb_base'],
      partialKeys: ['rotary_pct'],
    });
    return defineConfig({
      vocabSize: r.int('vocab_size'),
      hiddenSize: d,
      numLayers: r.int('num_hidden_layers'),
      numAttentionHeads: heads,
      numKeyValueHeads: heads,
      headDim: Math.floor(d / heads),
      intermediateSize: r.int('intermediate_size'),
      maxPositionEmbeddings: r.int('max_position_embeddings', 2048),
      rope,
      blockTopology: r.bool('use_parallel_residual', true) ? 'parallel_two_norms' : 'sequential',
      attentionBias: r.bool('attention_bias', true),
      ffnType: 'standard',
      hiddenAct: r.activation('hidden_act', 'gelu'),
      mlpBias: true,
      norm: { type: 'layernorm', eps: r.number('layer_norm_eps', 1e-5), bias: true },
      tieWordEmbeddings: r.bool('tie_word_embeddings', false),
      ...r.tokens(),
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      architectures: ['GPTNeoXForCausalLM'],
      model_type: 'gpt_neox',
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      intermediate_size: c.intermediateSize,
      num_hidden_layers: c.numLayers,
      num_attention_heads: c.numAttentionHeads,
      hidden_act: activationToHF(c.hiddenAct, 'gelu_new'),
      max_position_embeddings: c.maxPositionEmbeddings,
      layer_norm_eps: c.norm.eps,
      rotary_pct: c.rope.partialRotaryFactor,
      rotary_emb_base: c.rope.theta,
      rope_scaling: ropeScalingToHF(c.rope.scaling),
      use_parallel_residual: c.blockTopology === 'parallel_two_norms',
      attention_bias: c.attentionBias.q,
      tie_word_embeddings: c.tieWordEmbeddings,
      hidden_dropout: 0,
      attention_dropout: 0,
      ...tokensToHF(c),
    };
  },
  tensorRules(c: ModelConfig): TensorRule[] {
    const b = new RuleBuilder(c);
    const hd = c.headDim;
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}.self_attn`;
      for (const kind of c.attentionBias.q ? ['weight', 'bias'] : ['weight']) {
        const blocks: RowBlock[] = [];
        for (let h = 0; h < c.numAttentionHeads; h++) {
          for (const x of ['q', 'k', 'v'])
            blocks.push({ path: `${p}.${x}_proj.${kind}`, start: h * hd, rows: hd });
        }
        b.blocks(`gpt_neox.layers.${i}.attention.query_key_value.${kind}`, blocks);
      }
    }
    return b
      .renameRest((path) =>
        path
          .replace('model.embed_tokens.', 'gpt_neox.embed_in.')
          .replace(/^model\.layers\./, 'gpt_neox.layers.')
          .replace('.self_attn.o_proj.', '.attention.dense.')
          .replace('.mlp.up_proj.', '.mlp.dense_h_to_4h.')
          .replace('.mlp.down_proj.', '.mlp.dense_4h_to_h.')
          .replace('model.norm.', 'gpt_neox.final_layer_norm.')
          .replace('lm_head.', 'embed_out.'),
      )
      .build();
  },
};
