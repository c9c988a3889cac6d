/** Norm and activation dispatch from config choices to ops. */
import type { Activation, NormConfig, QKNormConfig } from '../config/model-config.js';
import type { UnaryOpName } from '../ops/elementwise-table.js';
import { add, layerNorm, mul, rmsNorm, unary } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';

export type ParamLookup = (path: string) => Tensor;
export type OptionalParamLookup = (path: string) => Tensor | null;

/** Applies the block norm `prefix` (RMSNorm, (1+w) RMSNorm or LayerNorm; affine or not) over the last axis. */
export function applyNorm(x: Tensor, prefix: string, norm: NormConfig, param: OptionalParamLookup): Tensor {
  const weight = norm.affine ? param(`${prefix}.weight`) : null;
  if (norm.type === 'rmsnorm') return rmsNorm(x, weight, { eps: norm.eps, plusOne: norm.plusOne });
  return layerNorm(x, weight, norm.bias ? param(`${prefix}.bias`) : null, norm.eps);
}

/**
 * q/k norm of x [B, T, heads, headDim] (scope 'head') or [B, T, heads·headDim] (scope 'projection').
 * Per-head weights [heads, headDim] (StableLM) are applied after a weightless normalisation.
 */
export function applyQKNorm(
  x: Tensor,
  prefix: string,
  qk: QKNormConfig,
  base: NormConfig,
  param: OptionalParamLookup,
): Tensor {
  const weight = param(`${prefix}.weight`);
  const bias = qk.bias ? param(`${prefix}.bias`) : null;
  if (qk.perHeadWeights) {
    const normed =
      qk.type === 'rmsnorm' ? rmsNorm(x, null, { eps: base.eps }) : layerNorm(x, null, null, base.eps);
    const scaled = weight
      ? mul(normed, base.plusOne && qk.type === 'rmsnorm' ? add(weight, 1) : weight)
      : normed;
    return bias ? add(scaled, bias) : scaled;
  }
  if (qk.type === 'rmsnorm') return rmsNorm(x, weight, { eps: base.eps, plusOne: base.plusOne });
  return layerNorm(x, weight, bias, base.eps);
}

/** The elementwise op of a config activation. */
export function activationOp(act: Activation): UnaryOpName {
  return act === 'gelu_tanh' ? 'geluTanh' : act;
}

export function activate(x: Tensor, act: Activation): Tensor {
  return unary(activationOp(act), x);
}
