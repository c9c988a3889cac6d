/**
 * The parameters a config implies: path (Hugging Face Llama-style names, so most checkpoints need
 * only renaming at the edges), shape, which part of the model it belongs to, and how to initialise
 * it. The model allocates exactly these, and `slm analyze` counts exactly these.
 */

import { type LayerSpec, layerSpecs } from '../config/layer-plan.js';
import type { ModelConfig, NormType } from '../config/model-config.js';

export type ParamPart = 'embedding' | 'attention' | 'ffn' | 'norm' | 'head';
export type ParamInit = 'normal' | 'output' | 'zeros' | 'ones' | 'scalar_one';

export interface ParamSpec {
  path: string;
  shape: number[];
  part: ParamPart;
  init: ParamInit;
}

interface NormShape {
  type: NormType;
  plusOne: boolean;
  affine: boolean;
  bias: boolean;
}

function normSpecs(prefix: string, dim: number | number[], norm: NormShape): ParamSpec[] {
  const shape = Array.isArray(dim) ? dim : [dim];
  const specs: ParamSpec[] = [];
  if (norm.affine) {
    specs.push({
      path: `${prefix}.weight`,
      shape,
      part: 'norm',
      init: norm.plusOne && norm.type === 'rmsnorm' ? 'zeros' : 'ones',
    });
  }
  if (norm.type === 'layernorm' && norm.bias)
    specs.push({ path: `${prefix}.bias`, shape, part: 'norm', init: 'zeros' });
  return specs;
}

/** RMSNorm of MLA's latents (always affine, plain w). */
const latentNorm: NormShape = { type: 'rmsnorm', plusOne: false, affine: true, bias: false };

function linearSpecs(
  prefix: string,
  out: number,
  inp: number,
  bias: boolean,
  part: ParamPart,
  output = false,
): ParamSpec[] {
  const specs: ParamSpec[] = [
    { path: `${prefix}.weight`, shape: [out, inp], part, init: output ? 'output' : 'normal' },
  ];
  if (bias) specs.push({ path: `${prefix}.bias`, shape: [out], part, init: 'zeros' });
  return specs;
}

function attentionSpecs(p: string, layer: LayerSpec, c: ModelConfig): ParamSpec[] {
  const d = c.hiddenSize;
  const b = c.attentionBias;
  if (c.mla) {
    const m = c.mla;
    const qk = m.qkNopeHeadDim + m.qkRopeHeadDim;
    const h = layer.numAttentionHeads;
    const q =
      m.qLoraRank === null
        ? linearSpecs(`${p}.q_proj`, h * qk, d, false, 'attention')
        : [
            ...linearSpecs(`${p}.q_a_proj`, m.qLoraRank, d, b.q, 'attention'),
            ...normSpecs(`${p}.q_a_layernorm`, m.qLoraRank, latentNorm),
            ...linearSpecs(`${p}.q_b_proj`, h * qk, m.qLoraRank, false, 'attention'),
          ];
    return [
      ...q,
      ...linearSpecs(`${p}.kv_a_proj_with_mqa`, m.kvLoraRank + m.qkRopeHeadDim, d, b.k, 'attention'),
      ...normSpecs(`${p}.kv_a_layernorm`, m.kvLoraRank, latentNorm),
      ...linearSpecs(`${p}.kv_b_proj`, h * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank, false, 'attention'),
      ...linearSpecs(`${p}.o_proj`, d, h * m.vHeadDim, b.o, 'attention', true),
    ];
  }
  const hd = c.headDim;
  const qDim = layer.numAttentionHeads * hd;
  const kvDim = layer.numKeyValueHeads * hd;
  const specs = [
    ...linearSpecs(`${p}.q_proj`, qDim, d, b.q, 'attention'),
    ...linearSpecs(`${p}.k_proj`, kvDim, d, b.k, 'attention'),
    ...linearSpecs(`${p}.v_proj`, kvDim, d, b.v, 'attention'),
    ...linearSpecs(`${p}.o_proj`, d, qDim, b.o, 'attention', true),
  ];
  const n = c.qkNorm;
  if (n) {
    const qShape =
      n.scope === 'projection' ? [qDim] : n.perHeadWeights ? [layer.numAttentionHeads, hd] : [hd];
    const kShape =
      n.scope === 'projection' ? [kvDim] : n.perHeadWeights ? [layer.numKeyValueHeads, hd] : [hd];
    const qkNorm = { type: n.type, plusOne: c.norm.plusOne, affine: true, bias: n.bias };
    specs.push(...normSpecs(`${p}.q_norm`, qShape, qkNorm), ...normSpecs(`${p}.k_norm`, kShape, qkNorm));
  }
  return specs;
}

function ffnSpecs(p: string, width: number, c: ModelConfig): ParamSpec[] {
  const d = c.hiddenSize;
  const specs =
    c.ffnType === 'gated'
      ? [
          ...linearSpecs(`${p}.gate_proj`, width, d, c.mlpBias, 'ffn'),
          ...linearSpecs(`${p}.up_proj`, width, d, c.mlpBias, 'ffn'),
          ...linearSpecs(`${p}.down_proj`, d, width, c.mlpBias, 'ffn', true),
        ]
      : [
          ...linearSpecs(`${p}.up_proj`, width, d, c.mlpBias, 'ffn'),
          ...linearSpecs(`${p}.down_proj`, d, width, c.mlpBias, 'ffn', true),
        ];
  if (c.seriesActivation) {
    const n = c.seriesActivation.terms;
    specs.push(
      { path: `${p}.act.scale`, shape: [n], part: 'ffn', init: 'scalar_one' },
      { path: `${p}.act.bias`, shape: [n], part: 'ffn', init: 'zeros' },
    );
  }
  return specs;
}

function moeSpecs(p: string, c: ModelConfig): ParamSpec[] {
  const moe = c.moe!;
  const specs: ParamSpec[] = [
    { path: `${p}.gate.weight`, shape: [moe.numExperts, c.hiddenSize], part: 'ffn', init: 'normal' },
  ];
  if (moe.correctionBias)
    specs.push({
      path: `${p}.gate.e_score_correction_bias`,
      shape: [moe.numExperts],
      part: 'ffn',
      init: 'zeros',
    });
  for (let e = 0; e < moe.numExperts; e++)
    specs.push(...ffnSpecs(`${p}.experts.${e}`, moe.moeIntermediateSize, c));
  if (moe.numSharedExperts > 0)
    specs.push(...ffnSpecs(`${p}.shared_experts`, moe.moeIntermediateSize * moe.numSharedExperts, c));
  return specs;
}

/** Norm module names of one block for each placement/topology (Hugging Face names for each style). */
export function blockNormNames(c: ModelConfig): string[] {
  if (c.blockTopology === 'parallel') return ['input_layernorm'];
  if (c.normPlacement === 'sandwich') {
    return [
      'input_layernorm',
      'post_attention_layernorm',
      'pre_feedforward_layernorm',
      'post_feedforward_layernorm',
    ];
  }
  if (c.normPlacement === 'post') return ['post_attention_layernorm', 'post_feedforward_layernorm'];
  return ['input_layernorm', 'post_attention_layernorm'];
}

export function parameterSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.hiddenSize;
  const specs: ParamSpec[] = [
    { path: 'model.embed_tokens.weight', shape: [c.vocabSize, d], part: 'embedding', init: 'normal' },
  ];
  if (c.positionEmbedding === 'learned') {
    specs.push({
      path: 'model.embed_positions.weight',
      shape: [c.maxPositionEmbeddings, d],
      part: 'embedding',
      init: 'normal',
    });
  }
  for (const layer of layerSpecs(c)) {
    const p = `model.layers.${layer.index}`;
    for (const name of blockNormNames(c)) specs.push(...normSpecs(`${p}.${name}`, d, c.norm));
    specs.push(...attentionSpecs(`${p}.self_attn`, layer, c));
    if (c.augmentedShortcuts) {
      const r = d / c.augmentedShortcuts.reduction;
      for (let j = 0; j < c.augmentedShortcuts.count; j++) {
        specs.push(
          ...linearSpecs(`${p}.aug_shortcuts.${j}.down`, r, d, false, 'attention'),
          ...linearSpecs(`${p}.aug_shortcuts.${j}.up`, d, r, false, 'attention', true),
        );
      }
    }
    specs.push(...(layer.moe ? moeSpecs(`${p}.mlp`, c) : ffnSpecs(`${p}.mlp`, layer.intermediateSize, c)));
  }
  specs.push(...normSpecs('model.norm', d, c.norm));
  if (!c.tieWordEmbeddings)
    specs.push({ path: 'lm_head.weight', shape: [c.vocabSize, d], part: 'head', init: 'normal' });
  if (c.lmHeadBias) specs.push({ path: 'lm_head.bias', shape: [c.vocabSize], part: 'head', init: 'zeros' });
  return specs;
}
