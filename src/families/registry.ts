/** All family adapters by Hugging Face `model_type`. */
import { deepseekV2 } from './deepseek-v2.js';
import { deepseekV3 } from './deepseek-v3.js';
import { gemma } from './gemma.js';
import { gemma2 } from './gemma2.js';
import { gemma3Text } from './gemma3-text.js';
import { gptNeox } from './gpt-neox.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';
import { minicpm3 } from './minicpm3.js';
import { mobilellm } from './mobilellm.js';
import { olmo2 } from './olmo2.js';
import { openelm } from './openelm.js';
import { phi } from './phi.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { stablelm } from './stablelm.js';
import type { FamilyAdapter } from './types.js';

export const FAMILIES: readonly FamilyAdapter[] = [
  llama,
  mobilellm,
  qwen2,
  qwen3,
  gemma,
  gemma2,
  gemma3Text,
  phi3,
  phi,
  gpt2,
  gptNeox,
  stablelm,
  olmo2,
  deepseekV2,
  deepseekV3,
  minicpm3,
  openelm,
];

const BY_TYPE = new Map(FAMILIES.map((f) => [f.modelType, f]));

export function supportedModelTypes(): string[] {
  return FAMILIES.map((f) => f.modelType);
}

/** The adapter of a `model_type`; an unknown one is an error listing the supported types. */
export function familyFor(modelType: string): FamilyAdapter {
  const family = BY_TYPE.get(modelType);
  if (!family) {
    throw new Error(
      `unsupported model_type '${modelType}'; slmkit supports: ${supportedModelTypes().join(', ')}`,
    );
  }
  return family;
}
