/// <reference types="@webgpu/types" />
/**
 * The attention half of a planned decode layer for standard attention (MHA/GQA/MQA), recorded into a
 * StepRecorder: norm·QKV(+bias) → attention splits (q/k norm, RoPE and the cache write fused in) →
 * combine of the splits · o-proj (+ residual). 3 dispatches (4 where the combine runs on its own).
 * The KV cache slot is the eager path's layout [1, G, capacity, headDim].
 */
import {
  attentionCombineShader,
  attentionSplitShader,
  type DecodeAttentionSpec,
  maxChunk,
} from '../backend/webgpu/decode/attention-decode.js';
import { combineWorkgroupBytes, type FusedMatvecSpec } from '../backend/webgpu/decode/matvec-fused.js';
import { type LayerSpec, rotaryDim } from '../config/layer-plan.js';
import type { RopeConfig } from '../config/model-config.js';
import { ropeFrequencies } from '../model/rope.js';
import { zeros } from '../ops/index.js';
import type { BufferRange } from './decode-plan-dispatch.js';
import { StepRecorder } from './decode-plan-record.js';

export interface AttentionLayerArgs {
  slot: number;
  layer: LayerSpec;
  /** The residual stream (input of the layer's norm). */
  x: BufferRange;
  /** Where the o-projection writes: x itself (residual add) or the sandwich branch buffer (store). */
  out: BufferRange;
  residual: boolean;
  /** The QKV matvec normalises its input (false with post-norms: OLMo2). */
  preNorm: boolean;
  /** Scratch: q|k|v [(H + 2G)·hd], attention output [H·hd], split partials [H, splits, hd + 2]. */
  qkv: BufferRange;
  attnOut: BufferRange;
  partials: BufferRange;
  splits: number;
  /** Merge the splits in the o-projection's prologue where workgroup memory allows. */
  fuseCombine: boolean;
  rope: { table: GPUBuffer; rot: number };
}

export function recordStandardAttention(rec: StepRecorder, args: AttentionLayerArgs): void {
  const { slot, layer, x, qkv, attnOut, partials, splits, fuseCombine } = args;
  const c = rec.model.config;
  const d = c.hiddenSize;
  const hd = c.headDim;
  const eps = c.norm.eps;
  const plusOne = c.norm.plusOne;
  const b = c.attentionBias;
  const p = `model.layers.${layer.index}`;
  const a = `${p}.self_attn`;
  const h = layer.numAttentionHeads;
  const g = layer.numKeyValueHeads;
  const bind = StepRecorder.tensorBinding;
  const keys = zeros([1, g, rec.capacity, hd], { backend: rec.backend }).keep(); // [1, G, capacity, hd]
  const values = zeros([1, g, rec.capacity, hd], { backend: rec.backend }).keep();
  rec.cacheTensors.push(keys, values);
  rec.cache.slots[slot] = { keys, values };

  const qkvBias = rec.concatBias([
    { path: b.q ? `${a}.q_proj.bias` : null, size: h * hd },
    { path: b.k ? `${a}.k_proj.bias` : null, size: g * hd },
    { path: b.v ? `${a}.v_proj.bias` : null, size: g * hd },
  ]);
  rec.matvec(
    `layer ${slot} norm·qkv`,
    {
      k: d,
      sources: [h * hd, g * hd, g * hd],
      ...(args.preNorm ? rec.normSpec() : { normEps: null }),
      bias: qkvBias !== null,
      epilogue: 'store',
      weights: rec.formatFor(d),
    },
    [
      x,
      ...(args.preNorm ? rec.normBindings(`${p}.input_layernorm`) : []),
      rec.weight(`${a}.q_proj.weight`),
      rec.weight(`${a}.k_proj.weight`),
      rec.weight(`${a}.v_proj.weight`),
      ...(qkvBias ? [qkvBias] : []),
      qkv,
    ],
  );
  const rope = args.rope;
  const spec: DecodeAttentionSpec = {
    heads: h,
    kvHeads: g,
    headDim: hd,
    rotaryDim: rope.rot,
    interleaved: layer.rope?.interleaved ?? false,
    capacity: rec.capacity,
    splits,
    scale: c.attentionScale ?? 1 / Math.sqrt(hd),
    qkNormEps: c.qkNorm ? eps : null,
    qkNormPlusOne: plusOne,
    qkNormScope: c.qkNorm?.scope ?? 'head',
    qkNormLayerNorm: c.qkNorm?.type === 'layernorm',
    qkNormPerHead: c.qkNorm?.perHeadWeights ?? false,
    qkNormBias: c.qkNorm?.bias ?? false,
    window: layer.window,
    softcap: c.attnLogitSoftcap,
  };
  // q/k norm weights, each followed by its bias where the norm has one (one binding apiece).
  const qkNormWeights = !c.qkNorm
    ? []
    : c.qkNorm.bias
      ? [
          rec.stack([`${a}.q_norm.weight`, `${a}.q_norm.bias`]),
          rec.stack([`${a}.k_norm.weight`, `${a}.k_norm.bias`]),
        ]
      : [bind(rec.param(`${a}.q_norm.weight`)), bind(rec.param(`${a}.k_norm.weight`))];
  rec.add(
    `layer ${slot} attention`,
    attentionSplitShader(spec),
    [
      rec.stepUniform,
      qkv,
      rope.table,
      bind(keys),
      bind(values),
      splits === 1 ? attnOut : partials,
      ...qkNormWeights,
    ],
    splits,
    h,
    0,
  );
  const oBias = rec.concatBias([{ path: b.o ? `${a}.o_proj.bias` : null, size: d }]);
  const oSpec: FusedMatvecSpec = {
    k: h * hd,
    sources: [d],
    normEps: null,
    bias: oBias !== null,
    // Sandwich norms: the branch is normalised before the residual add (a dispatch of its own).
    epilogue: args.residual ? 'residual' : 'store',
    weights: rec.formatFor(h * hd),
    residualScale: c.residualScale,
  };
  const oRest = [rec.weight(`${a}.o_proj.weight`), ...(oBias ? [oBias] : []), args.out];
  // Several splits: the combine runs in the o-projection's prologue where workgroup memory allows,
  // else as a dispatch of its own.
  const combine = { heads: h, headDim: hd, splits, chunk: maxChunk(spec) };
  const fits = combineWorkgroupBytes(combine) <= rec.device.limits.maxComputeWorkgroupStorageSize;
  if (splits > 1 && fuseCombine && fits) {
    rec.matvec(`layer ${slot} combine·o-proj+residual`, { ...oSpec, combine }, [
      rec.stepUniform,
      partials,
      ...oRest,
    ]);
  } else {
    if (splits > 1) {
      rec.add(
        `layer ${slot} combine`,
        attentionCombineShader(spec),
        [rec.stepUniform, partials, attnOut],
        h,
        1,
        0,
      );
    }
    rec.matvec(`layer ${slot} o-proj+residual`, oSpec, [attnOut, ...oRest]);
  }
}

/** The cos/sin table [capacity, R] of `rope`: row p as the eager path computes it for a step at p. */
export function ropeTableBuffer(rec: StepRecorder, rope: RopeConfig): { table: GPUBuffer; rot: number } {
  const c = rec.model.config;
  const rot = rotaryDim(c, rope);
  const half = rot / 2;
  const data = new Float32Array(rec.capacity * rot);
  const seqDependent = rope.scaling?.type === 'dynamic' || rope.scaling?.type === 'longrope';
  let freqs = ropeFrequencies(rope, rot, c.maxPositionEmbeddings, 1);
  for (let p = 0; p < rec.capacity; p++) {
    if (seqDependent) freqs = ropeFrequencies(rope, rot, c.maxPositionEmbeddings, p + 1);
    for (let i = 0; i < half; i++) {
      const angle = p * freqs.invFreq[i]!;
      data[p * rot + i] = Math.cos(angle) * freqs.attentionFactor;
      data[p * rot + half + i] = Math.sin(angle) * freqs.attentionFactor;
    }
  }
  const table = rec.storage(data.length);
  rec.device.queue.writeBuffer(table, 0, data);
  return { table, rot };
}
