/**
 * minicpm3 (MiniCPM3-4B): MLA with plain rotate-half RoPE (LongRoPE), no MoE, and μP scalars —
 * embeddings × scale_emb, each residual branch × scale_depth/√L, final hidden ÷ (hidden/dim_model_base).
 */
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { type HFConfig, HFConfigReader } from './hf-config.js';
import { identityRules, readCore, writeCore } from './llama-like.js';
import { readMLA, writeMLA } from './mla.js';
import type { FamilyAdapter } from './types.js';

export const minicpm3: FamilyAdapter = {
  modelType: 'minicpm3',
  examples: ['openbmb/MiniCPM3-4B'],
  toConfig(hf: HFConfig): ModelConfig {
    const r = new HFConfigReader(hf, 'minicpm3');
    const core = readCore(r, {
      tie: true,
      eps: 1e-5,
      act: 'silu',
      maxPositions: 32768,
      rope: { theta: 10000 },
    });
    const mla = readMLA(r, Math.floor(core.hiddenSize / core.numAttentionHeads));
    const scaleDepth = r.number('scale_depth', 1.4);
    const dimModelBase = r.number('dim_model_base', 256);
    return defineConfig({
      ...core,
      numKeyValueHeads: core.numAttentionHeads,
      headDim: mla.qkNopeHeadDim + mla.qkRopeHeadDim,
      mla,
      attentionBias: r.bool('attention_bias', false),
      mlpBias: r.bool('mlp_bias', false),
      embeddingScale: r.number('scale_emb', 12),
      residualScale: scaleDepth / Math.sqrt(core.numLayers),
      logitScale: dimModelBase / core.hiddenSize,
    });
  },
  fromConfig(c: ModelConfig): HFConfig {
    if (!c.mla) throw new Error('minicpm3 needs multi-head latent attention (config.mla)');
    const { head_dim: _, ...core } = writeCore(c, 'minicpm3', 'MiniCPM3ForCausalLM');
    const round = (x: number) => Number(x.toPrecision(12));
    return {
      ...core,
      ...writeMLA(c.mla),
      attention_bias: c.attentionBias.o,
      mlp_bias: c.mlpBias,
      scale_emb: c.embeddingScale ?? 1,
      scale_depth: round((c.residualScale ?? 1) * Math.sqrt(c.numLayers)),
      dim_model_base: round((c.logitScale ?? 1) * c.hiddenSize),
    };
  },
  tensorRules: identityRules,
};
