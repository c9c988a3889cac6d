/**
 * openelm (Apple OpenELM, remote code): layer-wise scaling — query heads and FFN width grow linearly
 * with depth (`qkv_multipliers`, `ffn_multipliers`, rounded by make_divisible), GQA with
 * `num_gqa_groups` queries per KV head, fused `qkv_proj` = [q heads | k heads | v heads] with each
 * layer's own head counts, fused `proj_1` = [gate | up], RMSNorm(head_dim) of q and k (ε 1e-6 like
 * every OpenELM norm), head shared through `share_input_output_layers`.
 */
import { openElmLayerWidths } from '../config/layer-plan.js';
import { defineConfig, type LayerScalingConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigError, HFConfigReader, tokensToHF } from './hf-config.js';
import { RuleBuilder, type TensorRule } from './tensor-map.js';
import type { FamilyAdapter } from './types.js';

const EPS = 1e-6;

function pair(r: HFConfigReader, key: string, n: number): [number, number] {
  const v = r.raw[key];
  if (typeof v === 'number') return [v, v];
  const list = r.numberList(key);
  if (!list || (list.length !== 2 && list.length !== n)) {
    throw new HFConfigError(
      'openelm',
      key,
      `must be a number, [min, max] or one value per layer (${n}), got ${JSON.stringify(v)}`,
    );
  }
  return [list[0]!, list[list.length - 1]!];
}

export const openelm: FamilyAdapter = {
  modelType: 'openelm',
  examples: ['apple/OpenELM-270M', 'apple/OpenELM-450M', 'apple/OpenELM-1_1B', 'apple/OpenELM-3B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'openelm');
    const d = r.int('model_dim');
    const n = r.int('num_transformer_layers');
    const headDim = r.int('head_dim');
    const layerScaling: LayerScalingConfig = {
      qkvMultipliers: pair(r, 'qkv_multipliers', n),
      ffnMultipliers: pair(r, 'ffn_multipliers', n),
      numGqaGroups: r.int('num_gqa_groups', 1),
      ffnDimDivisor: r.int('ffn_dim_divisor', 256),
    };
    const glu = r.bool('ffn_with_glu', true);
    const config = defineConfig({
      vocabSize: r.int('vocab_size'),
      hiddenSize: d,
      numLayers: n,
      numAttentionHeads: 1,
      numKeyValueHeads: 1,
      headDim,
      intermediateSize: 1,
      layerScaling,
      maxPositionEmbeddings: r.int('max_context_length', 2048),
      rope: { theta: r.number('rope_freq_constant', 10000) },
      qkNorm: r.bool('normalize_qk_projections', true)
        ? { type: 'rmsnorm', scope: 'head', perHeadWeights: false, bias: false }
        : null,
      ffnType: glu ? 'gated' : 'standard',
      hiddenAct: r.activation('activation_fn_name', 'swish'),
      norm: { type: 'rmsnorm', eps: EPS },
      tieWordEmbeddings: r.bool('share_input_output_layers', false),
      ...r.tokens(),
    });
    // The per-layer lists of config.json (when present) must agree with the multipliers.
    const widths = openElmLayerWidths(config);
    for (const [key, ours] of [
      ['num_query_heads', widths.numAttentionHeads],
      ['num_kv_heads', widths.numKeyValueHeads],
    ] as const) {
      const listed = r.numberList(key);
      if (listed && listed.join() !== ours.join()) {
        throw new HFConfigError(
          'openelm',
          key,
          `${JSON.stringify(listed)} disagrees with the multipliers, which give ${JSON.stringify(ours)}`,
        );
      }
    }
    const ffn = r.numberList('ffn_multipliers');
    if (ffn && ffn.length === n && n > 2) {
      const [lo, hi] = layerScaling.ffnMultipliers;
      const off = ffn.findIndex((m, i) => Math.abs(m - (lo + ((hi - lo) * i) / (n - 1))) > 0.0051);
      if (off >= 0) {
        throw new HFConfigError(
          'openelm',
          `ffn_multipliers[${off}]`,
          `${ffn[off]} is off the linear ramp from ${lo} to ${hi}`,
        );
      }
    }
    // The uniform fields describe layer 0 (the per-layer plan comes from layerScaling).
    return defineConfig({
      ...config,
      numAttentionHeads: widths.numAttentionHeads[0]!,
      numKeyValueHeads: widths.numKeyValueHeads[0]!,
      intermediateSize: widths.intermediateSize[0]!,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    const s = c.layerScaling;
    if (!s) throw new Error('openelm needs layer-wise scaling (config.layerScaling)');
    const widths = openElmLayerWidths(c);
    const n = c.numLayers;
    const ramp = Array.from(
      { length: n },
      (_, i) => s.ffnMultipliers[0] + ((s.ffnMultipliers[1] - s.ffnMultipliers[0]) * i) / Math.max(1, n - 1),
    );
    return {
      architectures: ['OpenELMForCausalLM'],
      model_type: 'openelm',
      vocab_size: c.vocabSize,
      model_dim: c.hiddenSize,
      num_transformer_layers: n,
      head_dim: c.headDim,
      num_gqa_groups: s.numGqaGroups,
      qkv_multipliers: s.qkvMultipliers,
      ffn_multipliers: n === 2 ? s.ffnMultipliers : ramp.map((m) => Number(m.toFixed(2))),
      ffn_dim_divisor: s.ffnDimDivisor,
      num_query_heads: widths.numAttentionHeads,
      num_kv_heads: widths.numKeyValueHeads,
      ffn_with_glu: c.ffnType === 'gated',
      activation_fn_name: c.hiddenAct === 'silu' ? 'swish' : c.hiddenAct,
      normalization_layer_name: 'rms_norm',
      normalize_qk_projections: c.qkNorm !== null,
      share_input_output_layers: c.tieWordEmbeddings,
      rope_freq_constant: c.rope.theta,
      rope_max_length: Math.max(4096, c.maxPositionEmbeddings),
      max_context_length: c.maxPositionEmbeddings,
      ...tokensToHF(c),
    };
  },
  tensorRules(c: ModelConfig): TensorRule[] {
    const b = new RuleBuilder(c);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const t = `transformer.layers.${i}`;
      b.fused(
        `${t}.attn.qkv_proj.weight`,
        ['q', 'k', 'v'].map((x) => `${p}.self_attn.${x}_proj.weight`),
      );
      const ffnIn =
        c.ffnType === 'gated'
          ? [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`]
          : [`${p}.mlp.up_proj.weight`];
      b.fused(`${t}.ffn.proj_1.weight`, ffnIn);
    }
    return b
      .renameRest((path) =>
        path
          .replace('model.embed_tokens.', 'transformer.token_embeddings.')
          .replace(/^model\.layers\./, 'transformer.layers.')
          .replace('.input_layernorm.', '.attn_norm.')
          .replace('.post_attention_layernorm.', '.ffn_norm.')
          .replace('.self_attn.o_proj.', '.attn.out_proj.')
          .replace('.self_attn.', '.attn.')
          .replace('.mlp.down_proj.', '.ffn.proj_2.')
          .replace('model.norm.', 'transformer.norm.'),
      )
      .build();
  },
};
