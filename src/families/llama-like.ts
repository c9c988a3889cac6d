/**
 * The Llama-style core shared by most families: the config keys every decoder has (sizes, heads,
 * head_dim, eps, RoPE, tying, special ids) and our parameter paths, which already are Hugging Face
 * Llama names. Family files add their quirks on top.
 */
import type { ModelConfig, ModelConfigInput, RopeConfig } from '../config/model-config.js';
import {
  activationToHF,
  type HFConfig,
  type HFConfigReader,
  layerTypesToHF,
  type RopeDefaults,
  ropeFromHF,
  ropeScalingToHF,
  tokensToHF,
} from './hf-config.js';
import { RuleBuilder, type TensorRule } from './tensor-map.js';

export interface CoreDefaults {
  tie: boolean;
  eps: number;
  act: string;
  maxPositions: number;
  rope: RopeDefaults;
  /** Class default of head_dim when absent (Qwen3 128, Gemma 256); else hidden/heads. */
  headDim?: number;
  /** Key of the activation (Gemma: hidden_activation). */
  actKey?: string;
  epsKey?: string;
}

/** The core fields of a Llama-style config.json. */
export type CoreInput = ModelConfigInput & {
  numKeyValueHeads: number;
  rope: RopeConfig;
  ropeSliding: RopeConfig | null;
  norm: { type: 'rmsnorm'; eps: number; plusOne?: boolean };
};

export function readCore(r: HFConfigReader, d: CoreDefaults): CoreInput {
  const hiddenSize = r.int('hidden_size');
  const numAttentionHeads = r.int('num_attention_heads');
  const numLayers = r.int('num_hidden_layers');
  const { rope, ropeSliding } = ropeFromHF(r, d.rope);
  return {
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    numLayers,
    numAttentionHeads,
    numKeyValueHeads: r.int('num_key_value_heads', numAttentionHeads),
    headDim: r.int('head_dim', d.headDim ?? Math.floor(hiddenSize / numAttentionHeads)),
    intermediateSize: r.int('intermediate_size'),
    maxPositionEmbeddings: r.int('max_position_embeddings', d.maxPositions),
    hiddenAct: r.activation(d.actKey ?? 'hidden_act', d.act),
    norm: { type: 'rmsnorm', eps: r.number(d.epsKey ?? 'rms_norm_eps', d.eps) },
    rope,
    ropeSliding,
    tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie),
    ...r.tokens(),
  };
}

/** Core config.json keys of a ModelConfig (v4 key names, which v4 and v5 both read). */
export function writeCore(
  c: ModelConfig,
  modelType: string,
  architecture: string,
  geluTanhName?: string,
): HFConfig {
  return {
    architectures: [architecture],
    model_type: modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: activationToHF(c.hiddenAct, geluTanhName),
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.norm.eps,
    rope_theta: c.rope.theta,
    rope_scaling: ropeScalingToHF(c.rope.scaling),
    tie_word_embeddings: c.tieWordEmbeddings,
    ...tokensToHF(c),
  };
}

/** Qwen2/Qwen3 sliding layers: `layer_types`, else `use_sliding_window` with layers >= max_window_layers. */
export function readQwenSliding(
  r: HFConfigReader,
  numLayers: number,
): Pick<ModelConfigInput, 'layerTypes' | 'slidingWindow'> {
  const useSliding = r.bool('use_sliding_window', false);
  const window = useSliding ? (r.optionalInt('sliding_window') ?? 4096) : null;
  const maxWindowLayers = r.int('max_window_layers', 28);
  let types = r.layerTypes(numLayers);
  if (types === null || !useSliding) {
    types = Array.from({ length: numLayers }, (_, i) =>
      window !== null && i >= maxWindowLayers ? 'sliding' : 'full',
    );
  }
  return { layerTypes: types, slidingWindow: types.includes('sliding') ? window : null };
}

export function writeQwenSliding(c: ModelConfig): HFConfig {
  const first = c.layerTypes.indexOf('sliding');
  return {
    use_sliding_window: first >= 0,
    sliding_window: c.slidingWindow,
    max_window_layers: first >= 0 ? first : c.numLayers,
    layer_types: layerTypesToHF(c.layerTypes),
  };
}

/** Rules for families whose checkpoint names equal our paths. */
export function identityRules(c: ModelConfig): TensorRule[] {
  return new RuleBuilder(c).renameRest((p) => p).build();
}
