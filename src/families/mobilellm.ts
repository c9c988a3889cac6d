/**
 * mobilellm (facebook/MobileLLM-*, remote code): a deep-and-thin Llama whose head is tied through
 * `share_embedding` (while `tie_word_embeddings` stays false) and whose `layer_sharing` runs each
 * block twice in a row (immediate block-wise sharing; each run gets its own KV-cache slot here).
 * Checkpoints use Llama tensor names.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { identityRules, readCore, writeCore } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const mobilellm: FamilyAdapter = {
  modelType: 'mobilellm',
  examples: ['facebook/MobileLLM-125M', 'facebook/MobileLLM-350M', 'facebook/MobileLLM-1B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'mobilellm');
    const core = readCore(r, {
      tie: false,
      eps: 1e-5,
      act: 'silu',
      maxPositions: 2048,
      rope: { theta: 10000 },
    });
    return defineConfig({
      ...core,
      attentionBias: r.bool('attention_bias', false),
      mlpBias: r.bool('mlp_bias', false),
      tieWordEmbeddings: r.bool('share_embedding', true) || core.tieWordEmbeddings!,
      layerSharing: r.bool('layer_sharing', false) ? { mode: 'immediate', repeats: 2 } : null,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    const sharing = c.layerSharing;
    if (sharing && (sharing.mode !== 'immediate' || sharing.repeats !== 2)) {
      throw new Error('mobilellm can express only immediate block sharing with 2 repeats (layer_sharing)');
    }
    return {
      ...writeCore(c, 'mobilellm', 'MobileLLMForCausalLM'),
      tie_word_embeddings: false,
      share_embedding: c.tieWordEmbeddings,
      layer_sharing: sharing !== null,
      attention_bias: c.attentionBias.q,
      mlp_bias: c.mlpBias,
    };
  },
  tensorRules: identityRules,
};
