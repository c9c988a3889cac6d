/**
 * gemma (Gemma-1): (1 + w) RMSNorm, GeGLU with tanh-GELU, embeddings × √d rounded to the weight
 * dtype (float32 here), head_dim 256 by default, tied head. The original checkpoints say
 * `"hidden_act": "gelu"` but the model wants tanh-GELU, so `hidden_activation` (default
 * gelu_pytorch_tanh) decides, as in transformers ≤ 4.47 and the reference implementation.
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { type CoreInput, identityRules, readCore, writeCore } from './llama-like.js';
import type { FamilyAdapter } from './types.js';

/** √hidden_size as the float32 scalar HF multiplies by. */
export function gemmaEmbeddingScale(hiddenSize: number): number {
  return Math.fround(Math.sqrt(hiddenSize));
}

/** Core of every Gemma generation. */
export function readGemmaCore(r: HFConfigReader, theta: number) {
  const core = readCore(r, {
    tie: true,
    eps: 1e-6,
    act: 'gelu_pytorch_tanh',
    actKey: 'hidden_activation',
    maxPositions: 8192,
    headDim: 256,
    rope: { theta },
  });
  const input: CoreInput = {
    ...core,
    norm: { type: 'rmsnorm', eps: core.norm.eps, plusOne: true },
    embeddingScale: gemmaEmbeddingScale(core.hiddenSize),
    attentionBias: r.bool('attention_bias', false),
  };
  return input;
}

export function writeGemmaCore(c: ModelConfig, modelType: string, architecture: string): HFConfig {
  const core = writeCore(c, modelType, architecture, 'gelu_pytorch_tanh');
  return { ...core, hidden_activation: core.hidden_act, attention_bias: c.attentionBias.q };
}

export const gemma: FamilyAdapter = {
  modelType: 'gemma',
  examples: ['google/gemma-2b', 'google/gemma-1.1-2b-it'],
  toConfig(hf: HFConfig): ModelConfig {
    return defineConfig(readGemmaCore(new HFConfigReader(hf, 'gemma'), 10000));
  },
  fromConfig(c: ModelConfig): HFConfig {
    return writeGemmaCore(c, 'gemma', 'GemmaForCausalLM');
  },
  tensorRules: identityRules,
};
