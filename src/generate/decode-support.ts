/**
 * Which configs a planned decode step (decode-plan.ts) covers: the Llama-style family — MHA/GQA/MQA,
 * pre-norm RMSNorm, gated SiLU FFN, RoPE (rotate-half or interleaved, partial rotary, any scaling),
 * optional q/k/v/o and MLP biases, Qwen3's per-head q/k RMSNorm, sliding-window layers, block
 * sharing (MobileLLM-LS: one KV slot per repeat) and per-layer widths (OpenELM), tied or untied head. Anything else decodes through the eager path.
 */
import type { ModelConfig } from '../config/model-config.js';
import type { Transformer } from '../model/transformer.js';

/** null when the planned decode step supports `config`, else the reason it does not. */
export function planSupport(config: ModelConfig): string | null {
  const c = config;
  if (c.mla) return 'MLA (latent attention) is not planned';
  if (c.moe) return 'mixture-of-experts FFNs are not planned';
  if (c.positionEmbedding !== 'rope')
    return `${c.positionEmbedding} position embeddings are not planned (RoPE only)`;
  if (c.noRopeLayers.length > 0) return 'NoPE layers are not planned';
  if (c.attnLogitSoftcap !== null) return 'attention logit soft-cap is not planned';
  if (c.finalLogitSoftcap !== null) return 'final logit soft-cap is not planned';
  if (c.qkNorm) {
    const n = c.qkNorm;
    if (n.type !== 'rmsnorm' || n.scope !== 'head' || n.perHeadWeights || n.bias)
      return 'only a per-head RMSNorm q/k norm with one shared weight (Qwen3) is planned';
  }
  if (c.norm.type !== 'rmsnorm' || c.norm.plusOne || !c.norm.affine)
    return 'only RMSNorm with a plain weight is planned';
  if (c.normPlacement !== 'pre') return `${c.normPlacement} norm placement is not planned (pre-norm only)`;
  if (c.blockTopology !== 'sequential') return `${c.blockTopology} blocks are not planned (sequential only)`;
  if (c.augmentedShortcuts) return 'augmented shortcuts are not planned';
  if (c.ffnType !== 'gated' || c.hiddenAct !== 'silu' || c.seriesActivation)
    return 'only the gated SiLU FFN is planned';
  if (c.embeddingScale !== null || c.residualScale !== null || c.logitScale !== null)
    return 'embedding, residual and logit scales are not planned';
  if (c.lmHeadBias) return 'an LM head bias is not planned';
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) return 'query heads must be a multiple of KV heads';
  return null;
}

/** Why `model` decodes eagerly (null: the planned step applies). */
export function plannedPathReason(model: Transformer): string | null {
  if (model.backend.name !== 'webgpu') return `the ${model.backend.name} backend decodes eagerly`;
  if (model.dtype !== 'float32') return `${model.dtype} weights are not planned`;
  const reason = planSupport(model.config);
  return reason;
}
