/**
 * gemma3_text (Gemma-3 270M/1B, and the text tower of larger ones): Gemma-2's sandwich block plus
 * (1 + w) RMSNorm of q and k per head, five sliding layers to one global, and two RoPE bases: global
 * `rope_theta` (with its scaling) and local `rope_local_base_freq` (v5: rope_parameters per layer type).
 */
import { defineConfig, type LayerType, type ModelConfig } from '../config/model-config.js';
import { readGemmaCore, writeGemmaCore } from './gemma.js';
import { type HFConfig, HFConfigReader, layerTypesToHF } from './hf-config.js';
import { identityRules } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const gemma3Text: FamilyAdapter = {
  modelType: 'gemma3_text',
  examples: ['google/gemma-3-270m', 'google/gemma-3-1b-pt'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'gemma3_text');
    const core = readGemmaCore(r, 1_000_000);
    const pattern = r.int('sliding_window_pattern', r.int('_sliding_window_pattern', 6));
    const layerTypes: LayerType[] =
      r.layerTypes(core.numLayers) ??
      Array.from({ length: core.numLayers }, (_, i) => ((i + 1) % pattern ? 'sliding' : 'full'));
    const softcap = (key: string) => r.optionalNumber(key);
    return defineConfig({
      ...core,
      ropeSliding: core.ropeSliding ?? { ...core.rope, theta: 10000, scaling: null },
      normPlacement: 'sandwich',
      qkNorm: { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false },
      attentionScale: r.number('query_pre_attn_scalar', 256) ** -0.5,
      attnLogitSoftcap: softcap('attn_logit_softcapping'),
      finalLogitSoftcap: softcap('final_logit_softcapping'),
      layerTypes,
      slidingWindow: layerTypes.includes('sliding') ? r.int('sliding_window', 4096) : null,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    return {
      ...writeGemmaCore(c, 'gemma3_text', 'Gemma3ForCausalLM'),
      rope_local_base_freq: (c.ropeSliding ?? c.rope).theta,
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
