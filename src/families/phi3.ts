/**
 * phi3 (Phi-3/3.5-mini): Llama with fused `qkv_proj` = [Q | K | V] and `gate_up_proj` = [gate | up]
 * along the output axis, optional partial rotary, LongRoPE whose original context is the top-level
 * `original_max_position_embeddings`, and a `sliding_window` that (when set) applies to every layer.
 */
import { defineConfig, type LayerType, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { readCore, writeCore } from './llama-like.js';
import { RuleBuilder, type TensorRule } from './tensor-map.js';
import type { FamilyAdapter } from './types.js';

export const phi3: FamilyAdapter = {
  modelType: 'phi3',
  examples: ['microsoft/Phi-3-mini-4k-instruct', 'microsoft/Phi-3.5-mini-instruct'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'phi3');
    const core = readCore(r, {
      tie: false,
      eps: 1e-5,
      act: 'silu',
      maxPositions: 4096,
      rope: { theta: 10000 },
    });
    const window = r.optionalInt('sliding_window');
    return defineConfig({
      ...core,
      layerTypes: new Array<LayerType>(core.numLayers).fill(window === null ? 'full' : 'sliding'),
      slidingWindow: window,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    const core = writeCore(c, 'phi3', 'Phi3ForCausalLM');
    const s = c.rope.scaling;
    if (s && s.type === 'longrope') {
      // Phi-3's config validation accepts exactly these keys; the original context sits at top level.
      core.rope_scaling = { type: 'longrope', short_factor: s.shortFactor, long_factor: s.longFactor };
      if (s.originalMaxPositionEmbeddings !== undefined) {
        core.original_max_position_embeddings = s.originalMaxPositionEmbeddings;
      }
    }
    const sliding = c.layerTypes.includes('sliding');
    if (sliding && c.layerTypes.includes('full'))
      throw new Error('phi3 cannot express a mix of sliding and full layers');
    return {
      ...core,
      partial_rotary_factor: c.rope.partialRotaryFactor,
      sliding_window: sliding ? c.slidingWindow : null,
    };
  },
  tensorRules(c: ModelConfig): TensorRule[] {
    const b = new RuleBuilder(c);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      b.fused(
        `${p}.self_attn.qkv_proj.weight`,
        ['q', 'k', 'v'].map((x) => `${p}.self_attn.${x}_proj.weight`),
      );
      b.fused(`${p}.mlp.gate_up_proj.weight`, [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`]);
    }
    return b.renameRest((path) => path).build();
  },
};
