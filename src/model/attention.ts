/**
 * The attention sublayer for every kind in the design space: MHA/GQA/MQA with optional biases, q/k norm,
 * partial or interleaved RoPE, soft-cap and sliding window; and MLA (low-rank queries, compressed
 * latent KV with a decoupled shared RoPE key), whose cache holds only the latent and the RoPE key.
 */
import type { LayerSpec } from '../config/layer-plan.js';
import type { ModelConfig } from '../config/model-config.js';
import {
  add,
  affine,
  attention,
  attentionMask,
  broadcastTo,
  concat,
  linear,
  masksAnything,
  matmul,
  permute,
  reshape,
  rope,
  softcap,
  softmax,
  split,
} from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { KVCache } from './kv-cache.js';
import { applyNorm, applyQKNorm, type OptionalParamLookup, type ParamLookup } from './norms.js';
import type { RopeFrequencies } from './rope.js';

/** What a block needs to know about the current call. */
export interface AttentionContext {
  /** cos/sin tables [T, R/2] for the new positions, per RoPE config (null: no rotary). */
  ropeTables: (layer: LayerSpec) => { cos: Tensor; sin: Tensor; freqs: RopeFrequencies } | null;
  cache: KVCache | null;
  /** Virtual layer index (the cache slot). */
  slot: number;
}

function bias(param: OptionalParamLookup, path: string, enabled: boolean): Tensor | null {
  return enabled ? param(path) : null;
}

/** x [B, T, d] -> [B, T, d] for standard (non-MLA) attention. */
export function standardAttention(
  x: Tensor,
  prefix: string,
  layer: LayerSpec,
  c: ModelConfig,
  ctx: AttentionContext,
  param: ParamLookup,
  optional: OptionalParamLookup,
): Tensor {
  const [batch, seq] = x.shape as [number, number];
  const h = layer.numAttentionHeads;
  const g = layer.numKeyValueHeads;
  const hd = c.headDim;
  const b = c.attentionBias;
  let q = linear(x, param(`${prefix}.q_proj.weight`), bias(optional, `${prefix}.q_proj.bias`, b.q)); // [B, T, H·hd]
  let k = linear(x, param(`${prefix}.k_proj.weight`), bias(optional, `${prefix}.k_proj.bias`, b.k)); // [B, T, G·hd]
  const v = linear(x, param(`${prefix}.v_proj.weight`), bias(optional, `${prefix}.v_proj.bias`, b.v));
  if (c.qkNorm?.scope === 'projection') {
    q = applyQKNorm(q, `${prefix}.q_norm`, c.qkNorm, c.norm, optional);
    k = applyQKNorm(k, `${prefix}.k_norm`, c.qkNorm, c.norm, optional);
  }
  q = reshape(q, [batch, seq, h, hd]);
  k = reshape(k, [batch, seq, g, hd]);
  if (c.qkNorm?.scope === 'head') {
    q = applyQKNorm(q, `${prefix}.q_norm`, c.qkNorm, c.norm, optional);
    k = applyQKNorm(k, `${prefix}.k_norm`, c.qkNorm, c.norm, optional);
  }
  const tables = ctx.ropeTables(layer);
  // Heads before positions, as attention takes them: RoPE writes them so (one pass), else a permute.
  let queries: Tensor; // [B, H, T, hd]
  let keys: Tensor; // [B, G, T, hd]
  if (tables && layer.rope) {
    const options = {
      rotaryDim: 2 * tables.freqs.invFreq.length,
      interleaved: layer.rope.interleaved,
      headsFirst: true,
    };
    queries = rope(q, tables.cos, tables.sin, options);
    keys = rope(k, tables.cos, tables.sin, options);
  } else {
    queries = permute(q, [0, 2, 1, 3]);
    keys = permute(k, [0, 2, 1, 3]);
  }
  let values = permute(reshape(v, [batch, seq, g, hd]), [0, 2, 1, 3]);
  if (ctx.cache) ({ keys, values } = ctx.cache.append(ctx.slot, keys, values, 2));
  const out = attention(queries, keys, values, {
    scale: c.attentionScale ?? 1 / Math.sqrt(hd),
    window: layer.window,
    softcap: c.attnLogitSoftcap,
  }); // [B, H, T, hd]
  const merged = reshape(permute(out, [0, 2, 1, 3]), [batch, seq, h * hd]);
  return linear(merged, param(`${prefix}.o_proj.weight`), bias(optional, `${prefix}.o_proj.bias`, b.o));
}

/** Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3), decompressing the cached latent per call. */
export function latentAttention(
  x: Tensor,
  prefix: string,
  layer: LayerSpec,
  c: ModelConfig,
  ctx: AttentionContext,
  param: ParamLookup,
  optional: OptionalParamLookup,
): Tensor {
  const m = c.mla!;
  const [batch, seq] = x.shape as [number, number];
  const h = layer.numAttentionHeads;
  const nope = m.qkNopeHeadDim;
  const ropeDim = m.qkRopeHeadDim;
  const latentNorm = {
    type: 'rmsnorm' as const,
    eps: m.latentNormEps ?? c.norm.eps,
    plusOne: false,
    bias: false,
    affine: true,
  };
  const b = c.attentionBias;
  let q: Tensor;
  if (m.qLoraRank === null) {
    q = linear(x, param(`${prefix}.q_proj.weight`));
  } else {
    const qa = linear(x, param(`${prefix}.q_a_proj.weight`), bias(optional, `${prefix}.q_a_proj.bias`, b.q));
    q = linear(
      applyNorm(qa, `${prefix}.q_a_layernorm`, latentNorm, optional),
      param(`${prefix}.q_b_proj.weight`),
    );
  }
  const [qNope, qRot] = split(reshape(q, [batch, seq, h, nope + ropeDim]), 3, [nope, ropeDim]); // [B, T, H, ·]
  const kva = linear(
    x,
    param(`${prefix}.kv_a_proj_with_mqa.weight`),
    bias(optional, `${prefix}.kv_a_proj_with_mqa.bias`, b.k),
  );
  const [latentRaw, kRotRaw] = split(kva, 2, [m.kvLoraRank, ropeDim]); // [B, T, r], [B, T, ropeDim]
  let latent = applyNorm(latentRaw!, `${prefix}.kv_a_layernorm`, latentNorm, optional);
  const tables = ctx.ropeTables(layer)!;
  const ropeOptions = { interleaved: layer.rope!.interleaved };
  const qPe = rope(qRot!, tables.cos, tables.sin, ropeOptions);
  let kPe = reshape(rope(reshape(kRotRaw!, [batch, seq, 1, ropeDim]), tables.cos, tables.sin, ropeOptions), [
    batch,
    seq,
    ropeDim,
  ]);
  const scale = c.attentionScale ?? 1 / Math.sqrt(nope + ropeDim);
  if (ctx.cache) {
    ({ keys: latent, values: kPe } = ctx.cache.append(ctx.slot, latent, kPe, 1));
    const o = absorbedLatentAttention(
      qNope!,
      qPe,
      latent,
      kPe,
      param(`${prefix}.kv_b_proj.weight`),
      m,
      layer,
      c,
      scale,
    );
    const merged = reshape(permute(o, [0, 2, 1, 3]), [batch, seq, h * m.vHeadDim]);
    return linear(merged, param(`${prefix}.o_proj.weight`), bias(optional, `${prefix}.o_proj.bias`, b.o));
  }
  const total = latent.shape[1]!;
  // Decompress: kv_b_proj(latent) -> per head [k_nope | v].
  const kv = reshape(linear(latent, param(`${prefix}.kv_b_proj.weight`)), [
    batch,
    total,
    h,
    nope + m.vHeadDim,
  ]);
  const [kNope, v] = split(kv, 3, [nope, m.vHeadDim]);
  const kRot = broadcastTo(reshape(kPe, [batch, total, 1, ropeDim]), [batch, total, h, ropeDim]);
  const keys = permute(concat([kNope!, kRot], 3), [0, 2, 1, 3]); // [B, H, S, nope+rope]
  const queries = permute(concat([qNope!, qPe], 3), [0, 2, 1, 3]); // [B, H, T, nope+rope]
  const out = attention(queries, keys, permute(v!, [0, 2, 1, 3]), {
    scale,
    window: layer.window,
    softcap: c.attnLogitSoftcap,
  }); // [B, H, T, v]
  const merged = reshape(permute(out, [0, 2, 1, 3]), [batch, seq, h * m.vHeadDim]);
  return linear(merged, param(`${prefix}.o_proj.weight`), bias(optional, `${prefix}.o_proj.bias`, b.o));
}

/**
 * MLA attention against the cached latent without decompressing it (DeepSeek-V2 §2.1.2's absorbed
 * weights): q·k_nope = (W_UKᵀ q_nope)·c, and Σ p·v = W_UV (Σ p·c), so scores and the weighted sum run
 * in the latent space of width kvLoraRank. qNope [B, T, H, nope], qPe [B, T, H, rope] (rotated),
 * latent [B, S, r], kPe [B, S, rope] -> [B, H, T, v].
 */
function absorbedLatentAttention(
  qNope: Tensor,
  qPe: Tensor,
  latent: Tensor,
  kPe: Tensor,
  kvB: Tensor,
  m: NonNullable<ModelConfig['mla']>,
  layer: LayerSpec,
  c: ModelConfig,
  scale: number,
): Tensor {
  const [batch, queries, heads] = qNope.shape as [number, number, number];
  const keys = latent.shape[1]!;
  const r = m.kvLoraRank;
  const [wUK, wUV] = split(reshape(kvB, [heads, m.qkNopeHeadDim + m.vHeadDim, r]), 1, [
    m.qkNopeHeadDim,
    m.vHeadDim,
  ]);
  const qLatent = matmul(permute(qNope, [0, 2, 1, 3]), wUK!); // [B, H, T, nope] @ [H, nope, r] -> [B, H, T, r]
  const cache = reshape(latent, [batch, 1, keys, r]);
  let scores = add(
    matmul(qLatent, cache, { transB: true }),
    matmul(permute(qPe, [0, 2, 1, 3]), reshape(kPe, [batch, 1, keys, m.qkRopeHeadDim]), { transB: true }),
  ); // [B, H, T, S]
  scores = affine(scores, scale, 0);
  if (c.attnLogitSoftcap) scores = softcap(scores, c.attnLogitSoftcap);
  if (masksAnything(queries, keys, true, layer.window)) {
    scores = add(scores, attentionMask(queries, keys, true, layer.window, scores));
  }
  const outLatent = matmul(softmax(scores), cache); // [B, H, T, r]
  return matmul(outLatent, wUV!, { transB: true }); // [B, H, T, r] @ [H, v, r]ᵀ -> [B, H, T, v]
}
