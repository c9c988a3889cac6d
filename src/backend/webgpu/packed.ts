/**
 * bf16-packed weight tensors on the webgpu backend: a bf16 checkpoint's matrices kept at 2 bytes a
 * value on the GPU instead of a float32 copy (GpuStorage.format). The tensor stays a float32 tensor to
 * every reader; only linear layers (matmul's B operand, transposed), the embedding gather and the planned
 * decode read the packed words, and any other kernel refuses it with an error naming the remedy.
 */
import { Tensor } from '../../tensor/tensor.js';
import type { WebGPUBackend } from './backend.js';
import type { GpuStorage } from './runtime.js';

/** Whether every value is exactly a bf16 (its low 16 bits zero, as a bf16 checkpoint's are). */
export function isBf16Exact(values: Float32Array): boolean {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0xffff) !== 0) return false;
  return true;
}

/** Packs bf16-exact float32 values two to a word, element 2i in the low half of word i. */
export function packBf16Words(values: Float32Array): Uint32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const words = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < words.length; i++)
    words[i] = ((bits[2 * i]! >>> 16) | ((bits[2 * i + 1] ?? 0) & 0xffff0000)) >>> 0;
  return words;
}

/** A float32 tensor of `shape` stored as bf16 pairs; `values` must be exactly bf16 (else it throws). */
export function packedBf16Tensor(
  backend: WebGPUBackend,
  values: Float32Array,
  shape: readonly number[],
): Tensor {
  if (!isBf16Exact(values))
    throw new Error('bf16 packing needs values that are exactly bf16 (a bf16 checkpoint)');
  const storage: GpuStorage = { ...backend.runtime.upload(packBf16Words(values)), format: 'bf16' };
  return new Tensor(storage, shape, 'float32', backend);
}

/**
 * A float32 tensor of `shape` from bf16 values already packed two to a word (element 2i in the low half
 * of word i): a bf16 checkpoint's little-endian bytes are exactly these words, so they go to the GPU
 * as read, with no float32 copy on the host.
 */
export function packedBf16FromWords(
  backend: WebGPUBackend,
  words: Uint32Array,
  shape: readonly number[],
): Tensor {
  const elements = shape.reduce((a, b) => a * b, 1);
  if (words.length !== Math.ceil(elements / 2))
    throw new Error(`${words.length} bf16 words cannot hold a tensor of ${elements} values`);
  const storage: GpuStorage = { ...backend.runtime.upload(words), format: 'bf16' };
  return new Tensor(storage, shape, 'float32', backend);
}

/** Whether a tensor is bf16-packed on the GPU. */
export function isPackedTensor(t: Tensor): boolean {
  return (t.storage as Partial<GpuStorage>).format === 'bf16';
}

/**
 * Whether a parameter is one the loader may keep packed: the matrices that linear layers and the
 * embedding read (attention and MLP projections, the embedding, the LM head), with rows of a multiple of
 * 8 values (what the planned decode's 16-bit matvec streams). Experts' stacks and other tensors stay
 * float32.
 */
export function isPackableWeight(path: string, shape: readonly number[]): boolean {
  if (shape.length !== 2 || shape[1]! % 8 !== 0) return false;
  return (
    path === 'model.embed_tokens.weight' ||
    path === 'lm_head.weight' ||
    /^model\.layers\.\d+\.(self_attn\.(q|k|v|o|q_a|q_b)_proj|self_attn\.kv_a_proj_with_mqa|mlp\.(gate|up|down)_proj)\.weight$/.test(
      path,
    )
  );
}
