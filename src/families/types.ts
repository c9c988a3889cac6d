/** The contract of a family adapter: HF config.json ⇄ ModelConfig, HF tensor names ⇄ our parameter paths. */
import type { ModelConfig } from '../config/model-config.js';
import type { HFConfig } from './hf-config.js';
import type { TensorRule } from './tensor-map.js';

export interface FamilyAdapter {
  /** `model_type` of config.json. */
  readonly modelType: string;
  /** Checkpoints this adapter is meant for (documentation and error messages). */
  readonly examples: readonly string[];
  /** A validated ModelConfig from config.json (class defaults for absent keys). */
  toConfig(hf: HFConfig): ModelConfig;
  /** config.json of this family for a ModelConfig (throws when the family cannot express it). */
  fromConfig(config: ModelConfig): HFConfig;
  /** Checkpoint tensors of this family and the parameters each one holds. */
  tensorRules(config: ModelConfig): TensorRule[];
  /** Other names a checkpoint may use for `hf` (e.g. GPT-2 files without the `transformer.` prefix). */
  aliases?(hf: string): string[];
  /** Checkpoint entries that are buffers, not parameters (ignored on load). */
  readonly ignore?: RegExp;
}

/** Buffers that old checkpoints carry (RoPE tables, causal masks). */
export const COMMON_BUFFERS =
  /(rotary_emb\.inv_freq|\.attn\.bias|\.attn\.masked_bias|attention\.bias|attention\.masked_bias)$/;
