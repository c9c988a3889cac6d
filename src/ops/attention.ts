/**
 * Scaled dot-product attention for every head layout (MHA, GQA, MQA; MLA after its projections),
 * with causal and sliding-window masks, logit soft-capping and queries offset into a longer key
 * sequence (decoding with a KV cache).
 */
import { record } from '../autograd/tape.js';
import { hasKernel } from '../backend/backend.js';
import type { FlashAttentionAttrs } from '../backend/cpu/flash-attention.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from './creation.js';
import { add, affine, softcap } from './elementwise.js';
import { floatDType, runKernel } from './kernel.js';
import { reshape } from './layout.js';
import { matmul } from './linalg.js';
import { softmax } from './nn.js';

export interface AttentionOptions {
  /** Multiplies q·k (default 1/√headDim). */
  scale?: number;
  /** Key j is visible to query i only if j ≤ i (positions aligned at the end). Default true. */
  causal?: boolean;
  /** Sliding window: query i sees keys j with i − window < j ≤ i. */
  window?: number | null;
  /** Gemma-2 attention soft-cap, applied to the scaled scores before the mask. */
  softcap?: number | null;
  /**
   * 'fused' runs the flashAttention kernels (scores never stored), 'composite' the five-op path
   * (matmul, scale, soft-cap, mask, softmax, matmul). Default: $SLM_ATTENTION if set, else fused when
   * the backend has the kernels.
   */
  implementation?: 'fused' | 'composite';
}

function chosenImplementation(options: AttentionOptions, backend: string): 'fused' | 'composite' {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const asked = options.implementation ?? env?.SLM_ATTENTION?.trim();
  if (asked === 'composite') return 'composite';
  if (asked !== undefined && asked !== '' && asked !== 'fused') {
    throw new Error(`SLM_ATTENTION must be 'fused' or 'composite', got '${asked}'`);
  }
  const fused = hasKernel(backend, 'flashAttention') && hasKernel(backend, 'flashAttentionBackward');
  if (asked === 'fused' && !fused) throw new Error(`backend '${backend}' has no flashAttention kernels`);
  return fused ? 'fused' : 'composite';
}

/** Whether a causal/windowed mask hides anything when T queries end at the last of S keys. */
export function masksAnything(
  queries: number,
  keys: number,
  causal: boolean,
  window: number | null,
): boolean {
  const offset = keys - queries;
  if (causal && queries > 1) return true;
  return window !== null && offset >= window;
}

const maskCache = new Map<string, Tensor>();
const maskCacheSize = 32;

/**
 * Additive mask [T, S]: 0 where visible, −∞ elsewhere. Query i sits at key position i + S − T. Masks
 * are cached per shape, backend and dtype (kept tensors; callers must not dispose them), so repeated
 * calls of one shape cost no host loop and no upload.
 */
export function attentionMask(
  queries: number,
  keys: number,
  causal: boolean,
  window: number | null,
  like: Tensor,
): Tensor {
  const key = `${queries},${keys},${causal},${window},${like.backend.name},${like.dtype}`;
  const cached = maskCache.get(key);
  if (cached && !cached.isDisposed) {
    maskCache.delete(key);
    maskCache.set(key, cached);
    return cached;
  }
  const data = like.dtype === 'float64' ? new Float64Array(queries * keys) : new Float32Array(queries * keys);
  const offset = keys - queries;
  for (let i = 0; i < queries; i++) {
    const pos = i + offset;
    for (let j = 0; j < keys; j++) {
      const visible = (!causal || j <= pos) && (window === null || j > pos - window);
      data[i * keys + j] = visible ? 0 : -Infinity;
    }
  }
  const mask = tensor(data, [queries, keys], { backend: like.backend }).keep();
  maskCache.set(key, mask);
  if (maskCache.size > maskCacheSize) {
    const [oldest, evicted] = maskCache.entries().next().value as [string, Tensor];
    maskCache.delete(oldest);
    evicted.dispose();
  }
  return mask;
}

/**
 * q [B, H, T, Dk], k [B, G, S, Dk], v [B, G, S, Dv] with H a multiple of G (query head h uses KV head
 * ⌊h / (H/G)⌋) -> [B, H, T, Dv].
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const [batch, heads, queries, dk] = q.shape as [number, number, number, number];
  const [kb, groups, keys, kdk] = k.shape as [number, number, number, number];
  const dv = v.shape[3]!;
  if (
    q.rank !== 4 ||
    k.rank !== 4 ||
    v.rank !== 4 ||
    kb !== batch ||
    kdk !== dk ||
    v.shape[1] !== groups ||
    v.shape[2] !== keys
  ) {
    throw new Error(
      `attention shapes do not fit: q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)}`,
    );
  }
  if (heads % groups !== 0) throw new Error(`${heads} query heads are not a multiple of ${groups} KV heads`);
  const rep = heads / groups;
  const { scale = 1 / Math.sqrt(dk), causal = true, window = null } = options;
  if (chosenImplementation(options, q.backend.name) === 'fused') {
    const attrs = { scale, causal, window: window ?? -1, softcap: options.softcap ?? 0 };
    return fusedAttention(q, k, v, attrs);
  }
  // Group the query heads that share a KV head: [B, G, rep·T, Dk] @ [B, G, S, Dk]ᵀ -> [B, G, rep·T, S]
  const qg = reshape(q, [batch, groups, rep * queries, dk]);
  let scores = affine(matmul(qg, k, { transB: true }), scale, 0);
  if (options.softcap) scores = softcap(scores, options.softcap);
  if (masksAnything(queries, keys, causal, window)) {
    const mask = attentionMask(queries, keys, causal, window, q);
    scores = add(reshape(scores, [batch, groups, rep, queries, keys]), mask);
  }
  const probs = reshape(softmax(scores), [batch, groups, rep * queries, keys]);
  return reshape(matmul(probs, v), [batch, heads, queries, dv]);
}

/** The flashAttention kernel pair: o [B, H, T, Dv] and its gradient rule from the saved logsumexp. */
function fusedAttention(q: Tensor, k: Tensor, v: Tensor, attrs: FlashAttentionAttrs): Tensor {
  const dtype = floatDType('attention', q, k, v);
  const [batch, heads, queries] = q.shape as [number, number, number];
  const [o, lse] = runKernel('flashAttention', [q, k, v], attrs, [
    { shape: [batch, heads, queries, v.shape[3]!], dtype },
    { shape: [batch, heads, queries], dtype },
  ]);
  return record(o!, 'attention', [q, k, v], (dO) =>
    runKernel('flashAttentionBackward', [q, k, v, o!, lse!, dO], attrs, [
      { shape: q.shape, dtype },
      { shape: k.shape, dtype },
      { shape: v.shape, dtype },
    ]),
  );
}
