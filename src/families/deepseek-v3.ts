/**
 * deepseek_v3 (DeepSeek-V3/R1 and small MLA+MoE models in its format): DeepSeek-V2's MLA with
 * `rope_interleave`, sigmoid routing with the e_score_correction_bias used for selection only,
 * group-limited choice (group score = sum of its two best experts), renormalised top-k weights times
 * routed_scaling_factor. Multi-token-prediction layers (`num_nextn_predict_layers`) are not loaded.
 */
import { readDeepseek, writeDeepseek } from './deepseek-v2.js';
import { identityRules } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

export const deepseekV3: FamilyAdapter = {
  modelType: 'deepseek_v3',
  examples: ['deepseek-ai/DeepSeek-V3', 'moonshotai/Moonlight-16B-A3B'],
  toConfig: (hf) => readDeepseek(hf, 3),
  fromConfig: (c) => writeDeepseek(c, 3),
  tensorRules: identityRules,
};
