/**
 * gemma2: Gemma plus sandwich norms (four per block), attention scale query_pre_attn_scalar^-0.5,
 * attention logit soft-cap (before the mask) and final logit soft-cap, sliding window on even layers.
 */
import { defineConfig, type LayerType, type ModelConfig } from '../config/model-config.js';
import { readGemmaCore, writeGemmaCore } from './gemma.js';
import { type HFConfig, HFConfigReader, layerTypesToHF } from './hf-config.js';
import { identityRules } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const gemma2: FamilyAdapter = {
  modelType: 'gemma2',
  examples: ['google/gemma-2-2b', 'google/gemma-2-2b-it'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'gemma2');
    const core = readGemmaCore(r, 10000);
    const layerTypes: LayerType[] =
      r.layerTypes(core.numLayers) ??
      Array.from({ length: core.numLayers }, (_, i) => ((i + 1) % 2 ? 'sliding' : 'full'));
    const softcap = (key: string, fallback: number) => (key in hf ? r.optionalNumber(key) : fallback);
    return defineConfig({
      ...core,
      normPlacement: 'sandwich',
      attentionScale: r.number('query_pre_attn_scalar', 256) ** -0.5,
      attnLogitSoftcap: softcap('attn_logit_softcapping', 50),
      finalLogitSoftcap: softcap('final_logit_softcapping', 30),
      layerTypes,
      slidingWindow: layerTypes.includes('sliding') ? r.int('sliding_window', 4096) : null,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      ...writeGemmaCore(c, 'gemma2', 'Gemma2ForCausalLM'),
      query_pre_attn_scalar:
        c.attentionScale === null ? c.headDim : Number((c.attentionScale ** -2).toPrecision(12)),
      attn_logit_softcapping: c.attnLogitSoftcap,
      final_logit_softcapping: c.finalLogitSoftcap,
      sliding_window: c.slidingWindow,
      layer_types: layerTypesToHF(c.layerTypes),
    };
  },
  tensorRules: identityRules,
};
