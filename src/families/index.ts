/** Hugging Face family adapters: config.json ⇄ ModelConfig, checkpoint tensor names ⇄ parameter paths. */

export { type HFConfig, HFConfigError, HFConfigReader } from './hf-config.js';
export { FAMILIES, familyFor, supportedModelTypes } from './registry.js';
export { type RowBlock, RuleBuilder, type TensorRule } from './tensor-map.js';
export type { FamilyAdapter } from './types.js';
