/**
 * Which configs a planned decode step (decode-plan.ts) covers: the Llama-style family — MHA/GQA/MQA,
 * pre-norm or sandwich RMSNorm (w or 1 + w), gated SiLU or tanh-GELU FFN, embedding scale, attention
 * and final logit soft-caps (Gemma 1–3), multi-head latent attention with residual and logit scales
 * (MiniCPM3; DeepSeek's MoE layers are not planned), RoPE (rotate-half or interleaved, partial rotary, any scaling),
 * optional q/k/v/o and MLP biases, Qwen3's per-head q/k RMSNorm, sliding-window layers, block
 * sharing (MobileLLM-LS: one KV slot per repeat) and per-layer widths (OpenELM), tied or untied head. Anything else decodes through the eager path.
 */
import type { ModelConfig } from '../config/model-config.js';
import type { Transformer } from '../model/transformer.js';

/** null when the planned decode step supports `config`, else the reason it does not. */
export function planSupport(config: ModelConfig): string | null {
  const c = config;
  if (c.mla && (c.attnLogitSoftcap !== null || c.layerTypes.some((t) => t !== 'full')))
    return 'MLA with an attention soft-cap or sliding windows is not planned';
  if (c.moe) return 'mixture-of-experts FFNs are not planned';
  if (c.positionEmbedding !== 'rope')
    return `${c.positionEmbedding} position embeddings are not planned (RoPE only)`;
  if (c.noRopeLayers.length > 0) return 'NoPE layers are not planned';
  if (c.qkNorm) {
    const n = c.qkNorm;
    if (n.type !== 'rmsnorm' || n.scope !== 'head' || n.perHeadWeights || n.bias)
      return 'only a per-head RMSNorm q/k norm with one shared weight (Qwen3) is planned';
  }
  if (c.norm.type !== 'rmsnorm' || !c.norm.affine) return 'only RMSNorm (weight w or 1 + w) is planned';
  if (c.normPlacement === 'post') return 'post norm placement is not planned (pre and sandwich only)';
  if (c.blockTopology !== 'sequential') return `${c.blockTopology} blocks are not planned (sequential only)`;
  if (c.augmentedShortcuts) return 'augmented shortcuts are not planned';
  if (c.ffnType !== 'gated' || (c.hiddenAct !== 'silu' && c.hiddenAct !== 'gelu_tanh') || c.seriesActivation)
    return 'only gated SiLU and gated tanh-GELU FFNs are planned';
  if (c.residualScale !== null && c.normPlacement === 'sandwich')
    return 'a residual scale with sandwich norms is not planned';
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
