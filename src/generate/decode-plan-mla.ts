/// <reference types="@webgpu/types" />
/**
 * The attention half of a planned decode layer for multi-head latent attention (DeepSeek-V2/V3,
 * MiniCPM3), recorded into a StepRecorder: norm·[q_a | kv_a] (or [q | kv_a] without a query LoRA) →
 * q_a norm·q_b (with a query LoRA) → absorbed queries (W_UK) → latent attention splits (cache write)
 * → combine · W_UV → o-proj (+ residual). 6 dispatches with a query LoRA, 5 without. The KV cache slot is the eager
 * path's MLA layout: latent [1, capacity, r] and rotated shared key [1, capacity, ρ].
 */
import {
  type MlaDecodeSpec,
  mlaAbsorbGroups,
  mlaAbsorbShader,
  mlaCombineGroups,
  mlaCombineShader,
  mlaSplitShader,
} from '../backend/webgpu/decode/attention-mla.js';
import type { LayerSpec } from '../config/layer-plan.js';
import { zeros } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { BufferRange } from './decode-plan-dispatch.js';
import { StepRecorder } from './decode-plan-record.js';

export interface LatentLayerArgs {
  slot: number;
  layer: LayerSpec;
  /** The residual stream (input of the layer's norm). */
  x: BufferRange;
  /** Where the o-projection writes: x itself (residual add) or the sandwich branch buffer (store). */
  out: BufferRange;
  residual: boolean;
  /** [H·v] scratch and the split partials [H, splits, ≥ r + 2]. */
  attnOut: BufferRange;
  partials: BufferRange;
  splits: number;
  rope: { table: GPUBuffer; rot: number };
}

export function recordLatentAttention(rec: StepRecorder, args: LatentLayerArgs): void {
  const c = rec.model.config;
  const m = c.mla!;
  const { slot, layer, x, splits } = args;
  const a = `model.layers.${layer.index}.self_attn`;
  const h = layer.numAttentionHeads;
  const r = m.kvLoraRank;
  const rho = m.qkRopeHeadDim;
  const qWidth = h * (m.qkNopeHeadDim + rho);
  const b = c.attentionBias;
  const latentEps = m.latentNormEps ?? c.norm.eps;

  const bindParam = (path: string) => StepRecorder.tensorBinding(rec.param(path));
  const bindTensor = (t: Tensor) => StepRecorder.tensorBinding(t);
  const latent = zeros([1, rec.capacity, r], { backend: rec.backend }).keep();
  const kPe = zeros([1, rec.capacity, rho], { backend: rec.backend }).keep();
  rec.cacheTensors.push(latent, kPe);
  rec.cache.slots[slot] = { keys: latent, values: kPe };

  // norm·[q_a | kv_a] or norm·[q | kv_a]: one matvec over the normalised residual stream.
  const first = m.qLoraRank === null ? `${a}.q_proj` : `${a}.q_a_proj`;
  const firstRows = m.qLoraRank ?? qWidth;
  const firstBias = rec.concatBias([
    { path: b.q && m.qLoraRank !== null ? `${a}.q_a_proj.bias` : null, size: firstRows },
    { path: b.k ? `${a}.kv_a_proj_with_mqa.bias` : null, size: r + rho },
  ]);
  const proj = rec.storage(firstRows + r + rho);
  const firstFormat = rec.formatOf(`${first}.weight`);
  const kvaFormat = rec.formatOf(`${a}.kv_a_proj_with_mqa.weight`);
  if (firstFormat !== kvaFormat) throw new Error('internal: the q and kv_a projections must share a format');
  rec.matvec(
    `layer ${slot} norm·q/kv_a`,
    {
      k: c.hiddenSize,
      sources: [firstRows, r + rho],
      ...rec.normSpec(),
      bias: firstBias !== null,
      epilogue: 'store',
      weights: firstFormat,
    },
    [
      x,
      ...rec.normBindings(`model.layers.${layer.index}.input_layernorm`),
      rec.weight(`${first}.weight`),
      rec.weight(`${a}.kv_a_proj_with_mqa.weight`),
      ...(firstBias ? [firstBias] : []),
      proj,
    ],
  );
  let q = proj;
  if (m.qLoraRank !== null) {
    // q_a_layernorm over the query LoRA, then q_b.
    q = rec.storage(qWidth);
    rec.matvec(
      `layer ${slot} q_a norm·q_b`,
      {
        k: m.qLoraRank,
        sources: [qWidth],
        normEps: latentEps,
        bias: false,
        epilogue: 'store',
        weights: rec.formatOf(`${a}.q_b_proj.weight`),
      },
      [proj, bindParam(`${a}.q_a_layernorm.weight`), rec.weight(`${a}.q_b_proj.weight`), q],
    );
  }
  const spec: MlaDecodeSpec = {
    heads: h,
    nope: m.qkNopeHeadDim,
    rope: rho,
    vHeadDim: m.vHeadDim,
    rank: r,
    interleaved: layer.rope!.interleaved,
    capacity: rec.capacity,
    splits,
    scale: c.attentionScale ?? 1 / Math.sqrt(m.qkNopeHeadDim + rho),
    latentEps,
    qOffset: 0,
    kvaOffset: firstRows,
  };
  const kvB = bindParam(`${a}.kv_b_proj.weight`);
  const absorbed = rec.storage(h * r);
  rec.add(`layer ${slot} absorb q`, mlaAbsorbShader(spec), [q, kvB, absorbed], mlaAbsorbGroups(spec));
  rec.add(
    `layer ${slot} latent attention`,
    mlaSplitShader(spec),
    [
      rec.stepUniform,
      q,
      proj,
      args.rope.table,
      bindParam(`${a}.kv_a_layernorm.weight`),
      absorbed,
      bindTensor(latent),
      bindTensor(kPe),
      args.partials,
    ],
    splits,
    h,
    0,
  );
  rec.add(
    `layer ${slot} latent combine·W_UV`,
    mlaCombineShader(spec),
    [rec.stepUniform, args.partials, kvB, args.attnOut],
    mlaCombineGroups(spec),
    1,
    0,
  );
  const oBias = rec.concatBias([{ path: b.o ? `${a}.o_proj.bias` : null, size: c.hiddenSize }]);
  rec.matvec(
    `layer ${slot} o-proj${args.residual ? '+residual' : ''}`,
    {
      k: h * m.vHeadDim,
      sources: [c.hiddenSize],
      normEps: null,
      bias: oBias !== null,
      epilogue: args.residual ? 'residual' : 'store',
      weights: rec.formatOf(`${a}.o_proj.weight`),
      residualScale: c.residualScale,
    },
    [args.attnOut, rec.weight(`${a}.o_proj.weight`), ...(oBias ? [oBias] : []), args.out],
  );
}
