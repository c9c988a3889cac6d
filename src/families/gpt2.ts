/**
 * gpt2 (GPT-2, DistilGPT-2, Cerebras-GPT, LaMini-GPT): learned absolute positions, pre-LayerNorm
 * blocks, standard tanh-GELU MLP, biases everywhere, tied head. Conv1D weights are stored [in, out]
 * (transposed against nn.Linear) and `c_attn` holds [Q | K | V] thirds. Files written by
 * transformers prefix names with `transformer.`; the original openai-community files do not — both load.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { activationToHF, type HFConfig, HFConfigError, HFConfigReader, tokensToHF } from './hf-config.js';
import { RuleBuilder, type TensorRule } from './tensor-map.js';
import type { FamilyAdapter } from './types.js';

export const gpt2: FamilyAdapter = {
  modelType: 'gpt2',
  examples: ['openai-community/gpt2', 'distilbert/distilgpt2', 'cerebras/Cerebras-GPT-111M'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'gpt2');
    if (r.bool('scale_attn_by_inverse_layer_idx', false)) {
      throw new HFConfigError(
        'gpt2',
        'scale_attn_by_inverse_layer_idx',
        'is true, which slmkit does not implement',
      );
    }
    const d = r.int('n_embd', 768);
    const heads = r.int('n_head', 12);
    return defineConfig({
      vocabSize: r.int('vocab_size', 50257),
      hiddenSize: d,
      numLayers: r.int('n_layer', 12),
      numAttentionHeads: heads,
      numKeyValueHeads: heads,
      headDim: Math.floor(d / heads),
      intermediateSize: r.int('n_inner', 4 * d),
      maxPositionEmbeddings: r.int('n_positions', 1024),
      positionEmbedding: 'learned',
      attentionBias: true,
      attentionScale: r.bool('scale_attn_weights', true) ? null : 1,
      ffnType: 'standard',
      hiddenAct: r.activation('activation_function', 'gelu_new'),
      mlpBias: true,
      norm: { type: 'layernorm', eps: r.number('layer_norm_epsilon', 1e-5), bias: true },
      tieWordEmbeddings: r.bool('tie_word_embeddings', true),
      ...r.tokens(),
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: c.vocabSize,
      n_embd: c.hiddenSize,
      n_layer: c.numLayers,
      n_head: c.numAttentionHeads,
      n_inner: c.intermediateSize,
      n_positions: c.maxPositionEmbeddings,
      activation_function: activationToHF(c.hiddenAct, 'gelu_new'),
      layer_norm_epsilon: c.norm.eps,
      scale_attn_weights: c.attentionScale === null,
      scale_attn_by_inverse_layer_idx: false,
      reorder_and_upcast_attn: false,
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      tie_word_embeddings: c.tieWordEmbeddings,
      ...tokensToHF(c),
    };
  },
  tensorRules(c: ModelConfig): TensorRule[] {
    const b = new RuleBuilder(c);
    const t = 'transformer';
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const h = `${t}.h.${i}`;
      const qkv = (kind: string) => ['q', 'k', 'v'].map((x) => `${p}.self_attn.${x}_proj.${kind}`);
      b.fused(`${h}.attn.c_attn.weight`, qkv('weight'), true);
      b.fused(`${h}.attn.c_attn.bias`, qkv('bias'));
      b.rename(`${p}.self_attn.o_proj.weight`, `${h}.attn.c_proj.weight`, true);
      b.rename(`${p}.mlp.up_proj.weight`, `${h}.mlp.c_fc.weight`, true);
      b.rename(`${p}.mlp.down_proj.weight`, `${h}.mlp.c_proj.weight`, true);
    }
    return b
      .renameRest((path) =>
        path
          .replace('model.embed_tokens.', `${t}.wte.`)
          .replace('model.embed_positions.', `${t}.wpe.`)
          .replace(/^model\.layers\.(\d+)\./, `${t}.h.$1.`)
          .replace('.input_layernorm.', '.ln_1.')
          .replace('.post_attention_layernorm.', '.ln_2.')
          .replace('.self_attn.o_proj.', '.attn.c_proj.')
          .replace('.mlp.up_proj.', '.mlp.c_fc.')
          .replace('.mlp.down_proj.', '.mlp.c_proj.')
          .replace('model.norm.', `${t}.ln_f.`),
      )
      .build();
  },
  aliases: (hf) => (hf.startsWith('transformer.') ? [hf.slice('transformer.'.length)] : []),
};
