/**
 * Feed-forward sublayers: standard (up, act, down) and gated (down(act(gate) ⊙ up)), optionally with
 * PanGu-π's series informed activation, and DeepSeek's mixture of experts.
 */
import type { ModelConfig } from '../config/model-config.js';
import {
  add,
  affine,
  div,
  gatedUnary,
  linear,
  mul,
  reshape,
  routeTopK,
  sigmoid,
  slice,
  softmax,
  sum,
} from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { activate, activationOp, type OptionalParamLookup, type ParamLookup } from './norms.js';

/** act(z), or PanGu-π's series activation Σ_i act(a_i·z + b_i) when configured. */
function seriesActivate(z: Tensor, prefix: string, c: ModelConfig, param: ParamLookup): Tensor {
  if (!c.seriesActivation) return activate(z, c.hiddenAct);
  const scale = param(`${prefix}.act.scale`);
  const shift = param(`${prefix}.act.bias`);
  let total: Tensor | null = null;
  for (let i = 0; i < c.seriesActivation.terms; i++) {
    const term = activate(add(mul(z, slice(scale, 0, i, i + 1)), slice(shift, 0, i, i + 1)), c.hiddenAct);
    total = total ? add(total, term) : term;
  }
  return total!;
}

/** x [..., d] -> [..., d]. */
export function denseFFN(
  x: Tensor,
  prefix: string,
  c: ModelConfig,
  param: ParamLookup,
  optional: OptionalParamLookup,
): Tensor {
  const b = (name: string) => (c.mlpBias ? optional(`${prefix}.${name}.bias`) : null);
  let hidden: Tensor;
  if (c.ffnType === 'gated') {
    const gate = linear(x, param(`${prefix}.gate_proj.weight`), b('gate_proj'));
    const up = linear(x, param(`${prefix}.up_proj.weight`), b('up_proj'));
    // act(gate) ⊙ up in one pass, unless PanGu-π's series activation sums several.
    hidden = c.seriesActivation
      ? mul(seriesActivate(gate, prefix, c, param), up)
      : gatedUnary(activationOp(c.hiddenAct), gate, up);
  } else {
    hidden = seriesActivate(linear(x, param(`${prefix}.up_proj.weight`), b('up_proj')), prefix, c, param);
  }
  return linear(hidden, param(`${prefix}.down_proj.weight`), b('down_proj'));
}

/**
 * DeepSeek MoE: router scores (softmax or sigmoid), top-k experts per token (selection may add the
 * V3 correction bias), optional renormalisation, routed scaling, plus shared experts. Experts are
 * evaluated densely and weighted by a routing matrix that is zero off the selected experts, which is
 * exact and differentiable but costs every expert's FLOPs (fine for small expert counts).
 */
export function moeFFN(
  x: Tensor,
  prefix: string,
  c: ModelConfig,
  param: ParamLookup,
  optional: OptionalParamLookup,
): Tensor {
  const moe = c.moe!;
  const d = c.hiddenSize;
  const tokens = x.size / d;
  const flat = reshape(x, [tokens, d]);
  const logits = linear(flat, param(`${prefix}.gate.weight`)); // [N, E]
  const scores = moe.scoringFunc === 'softmax' ? softmax(logits) : sigmoid(logits);
  const mask = routeTopK(scores, {
    k: moe.numExpertsPerToken,
    correction: moe.correctionBias ? optional(`${prefix}.gate.e_score_correction_bias`) : null,
    groups: moe.groupLimit ?? null,
  });
  let weights = mul(scores, mask); // [N, E], zero off the top-k
  if (moe.normTopkProb) {
    weights = div(weights, affine(sum(weights, -1, true), 1, 1e-20));
  }
  weights = affine(weights, moe.routedScalingFactor, 0);
  let out: Tensor | null = null;
  for (let j = 0; j < moe.numExperts; j++) {
    const expertOut = mul(
      denseFFN(flat, `${prefix}.experts.${j}`, c, param, optional),
      slice(weights, 1, j, j + 1),
    );
    out = out ? add(out, expertOut) : expertOut;
  }
  if (moe.numSharedExperts > 0)
    out = add(out!, denseFFN(flat, `${prefix}.shared_experts`, c, param, optional));
  return reshape(out!, x.shape);
}
