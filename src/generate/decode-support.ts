/**
 * Which configs a planned decode step (decode-plan.ts) covers: MHA/GQA/MQA or multi-head latent
 * attention; dense or mixture-of-experts FFNs (DeepSeek-V2/V3 routing, pre-norm gated SiLU experts);
 * RMSNorm (w or 1 + w) or LayerNorm (with bias); pre-, sandwich or post-norm (RMSNorm) or parallel
 * blocks (one or two norms); gated (SiLU, tanh-GELU) or standard (GELU, tanh-GELU, ReLU, SiLU) FFNs;
 * RoPE (rotate-half or interleaved, partial, any scaling, a second θ for sliding layers) or learned
 * positions; q/k/v/o and MLP biases; q/k norms per head (RMSNorm: Qwen3, Gemma3; LayerNorm with shared
 * or per-head weights: Phi, StableLM) or over the projection (OLMo2); sliding windows; attention and
 * final logit soft-caps; embedding, residual and logit scales; block sharing and per-layer widths; tied
 * or untied head, LM head bias. So Llama, Qwen2/3, Phi-2/3, Gemma 1–3, SmolLM, MobileLLM, OpenELM,
 * MiniCPM3, DeepSeek-V2/V3, OLMo2, GPT-2, Pythia, StableLM. Not planned (eager): NoPE, PanGu-π's
 * series activation and augmented shortcuts.
 */
import type { ModelConfig } from '../config/model-config.js';
import type { Transformer } from '../model/transformer.js';

/** null when the planned decode step supports `config`, else the reason it does not. */
export function planSupport(config: ModelConfig): string | null {
  const c = config;
  if (c.mla && (c.attnLogitSoftcap !== null || c.layerTypes.some((t) => t !== 'full')))
    return 'MLA with an attention soft-cap or sliding windows is not planned';
  if (c.mla && c.blockTopology !== 'sequential') return 'MLA in parallel blocks is not planned';
  if (c.moe) {
    const moe = c.moe;
    if (c.normPlacement !== 'pre' || c.blockTopology !== 'sequential' || c.norm.type !== 'rmsnorm')
      return 'mixture-of-experts layers are planned with pre-norm RMSNorm sequential blocks only';
    if (c.ffnType !== 'gated' || c.hiddenAct !== 'silu' || c.mlpBias || c.residualScale !== null)
      return 'mixture-of-experts layers are planned with bias-free gated SiLU experts only';
    if (moe.numExperts > 256 || moe.numExpertsPerToken > moe.numExperts)
      return 'mixture-of-experts routing is planned for at most 256 experts';
    if (moe.groupLimit && moe.numExperts % moe.groupLimit.numGroups !== 0)
      return 'expert groups must divide the experts';
    if (c.hiddenSize * 4 + 2048 > 16384) return 'mixture-of-experts layers wider than 3584 are not planned';
  }
  if (c.positionEmbedding === 'none') return 'models without position embeddings (NoPE) are not planned';
  if (c.noRopeLayers.length > 0) return 'NoPE layers are not planned';
  if (
    c.qkNorm?.scope === 'projection' &&
    (c.qkNorm.type !== 'rmsnorm' || c.qkNorm.perHeadWeights || c.qkNorm.bias)
  )
    return 'a q/k norm over the projection is planned as RMSNorm with one weight (OLMo2) only';
  if (c.qkNorm?.type === 'rmsnorm' && c.qkNorm.bias) return 'a q/k RMSNorm with a bias is not planned';
  if (!c.norm.affine) return 'norms without a weight are not planned';
  if (c.normPlacement !== 'pre' && (c.norm.type !== 'rmsnorm' || c.blockTopology !== 'sequential' || c.mla))
    return `${c.normPlacement} norms are planned with RMSNorm in sequential blocks without MLA only`;
  if (c.augmentedShortcuts) return 'augmented shortcuts are not planned';
  if (c.seriesActivation) return 'the series activation is not planned';
  if (c.ffnType === 'gated' && c.hiddenAct !== 'silu' && c.hiddenAct !== 'gelu_tanh')
    return `a gated ${c.hiddenAct} FFN is not planned (SiLU and tanh-GELU are)`;
  if (c.ffnType !== 'gated' && c.hiddenAct === 'relu2') return 'a squared-ReLU FFN is not planned';
  if (c.residualScale !== null && c.normPlacement !== 'pre')
    return `a residual scale with ${c.normPlacement} norms is not planned`;
  if (c.lmHeadBias && c.logitScale !== null) return 'an LM head bias with a logit scale is not planned';
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
