/**
 * Feed-forward sublayers: standard (up, act, down) and gated (down(act(gate) ⊙ up)), optionally with
 * PanGu-π's series informed activation, and DeepSeek's mixture of experts.
 */
import type { ModelConfig } from '../config/model-config.js';
import {
  add,
  affine,
  div,
  linear,
  mul,
  noGrad,
  reshape,
  sigmoid,
  slice,
  softmax,
  sum,
  tensor,
} from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { activate, type OptionalParamLookup, type ParamLookup } from './norms.js';

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
    hidden = mul(seriesActivate(gate, prefix, c, param), up);
  } else {
    hidden = seriesActivate(linear(x, param(`${prefix}.up_proj.weight`), b('up_proj')), prefix, c, param);
  }
  return linear(hidden, param(`${prefix}.down_proj.weight`), b('down_proj'));
}

/**
 * Group-limited routing: scores of experts outside the topkGroup best groups become 0 (as HF's
 * masked_fill(…, 0.0), so a masked expert can still win against negative scores).
 */
function limitToGroups(
  choice: Float64Array,
  g: NonNullable<ModelConfig['moe']>['groupLimit'] & object,
): void {
  const size = choice.length / g.numGroups;
  const groupScores = Array.from({ length: g.numGroups }, (_, k) => {
    const members = Array.from(choice.subarray(k * size, (k + 1) * size)).sort((a, b) => b - a);
    return g.groupScore === 'max' ? members[0]! : members[0]! + (members[1] ?? 0);
  });
  const kept = new Set(
    Array.from({ length: g.numGroups }, (_, k) => k)
      .sort((a, b) => groupScores[b]! - groupScores[a]! || a - b)
      .slice(0, g.topkGroup),
  );
  for (let k = 0; k < g.numGroups; k++) if (!kept.has(k)) choice.fill(0, k * size, (k + 1) * size);
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
  const mask = noGrad(() => {
    const s = scores.dataSync();
    const correction = moe.correctionBias
      ? optional(`${prefix}.gate.e_score_correction_bias`)?.dataSync()
      : undefined;
    const e = moe.numExperts;
    const m = x.dtype === 'float64' ? new Float64Array(tokens * e) : new Float32Array(tokens * e);
    const choice = new Float64Array(e);
    for (let n = 0; n < tokens; n++) {
      for (let j = 0; j < e; j++) choice[j] = s[n * e + j]! + (correction?.[j] ?? 0);
      if (moe.groupLimit) limitToGroups(choice, moe.groupLimit);
      const order = Array.from({ length: e }, (_, j) => j).sort(
        (a, b2) => choice[b2]! - choice[a]! || a - b2,
      );
      for (const j of order.slice(0, moe.numExpertsPerToken)) m[n * e + j] = 1;
    }
    return tensor(m, [tokens, e], { backend: x.backend });
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
