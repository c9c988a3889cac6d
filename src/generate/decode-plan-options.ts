/// <reference types="@webgpu/types" />
/** Options and results of the planned decode step (decode-plan.ts), and the checks its creation makes. */
import { attentionWorkgroupBytes, defaultSplits } from '../backend/webgpu/decode/attention-decode.js';
import type { WeightFormat } from '../backend/webgpu/decode/half.js';
import { bf16ExactOnDevice } from '../backend/webgpu/decode/pack.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import { isPackedTensor } from '../backend/webgpu/packed.js';
import type { GpuStorage } from '../backend/webgpu/runtime.js';
import type { Transformer } from '../model/transformer.js';
import { planSupport } from './decode-support.js';

export interface DecodePlanOptions {
  /**
   * Merge the attention splits in the o-projection's prologue (default) rather than in a dispatch of
   * its own; the separate combine is also used where workgroup memory does not fit the fused one.
   */
  fuseCombine?: boolean;
  /** KV-length splits of the attention kernel (default `defaultSplits`: ~128 (split, head) workgroups). */
  splits?: number;
  /**
   * Matvec weight storage: 'f16' or 'bf16' keep a 16-bit copy (rounded to nearest even on the host)
   * of every matrix whose input width is a multiple of 8, halving the bytes each token streams; the
   * f32 tensors stay for the eager prefill. 'auto': bf16 when every such matrix is exactly
   * representable in bf16 (a bf16 checkpoint loaded as f32: lossless), else f32. Default 'f32'.
   */
  weights?: WeightFormat | 'auto';
  /**
   * Matvec reductions with subgroupAdd instead of barrier trees. Default: on when the device has
   * subgroups of at most 32 invocations (NVIDIA 32, lavapipe 8); the kernels assume subgroups are
   * consecutive local indices, as Vulkan forms them for one-dimensional workgroups.
   */
  subgroups?: boolean;
  /**
   * Matvec layout per dispatch kind, for tuning (`bench/decode-plan.ts --tune`): keyed by the kind's
   * label with digits as '#' (e.g. 'layer # norm·qkv', 'norm·lm-head·argmax', as `profile`
   * reports them): lanes per row (4–256), strides unrolled per iteration (1–64) and, for the LM head,
   * row blocks per workgroup.
   */
  matvecTuning?: Record<string, MatvecTuning>;
  /**
   * Bind groups shared across the step's dispatches (decode-plan-share.ts): the activations in two
   * arenas bound once a step (each kernel reads one read-only and writes the other), the step uniform
   * once, and a group twice a layer for everything else, so that most dispatches only change
   * pipelines: less host time per dispatch, the same results bit for bit. Where a layer's buffers do
   * not fit one group its dispatches keep a group each; where a kernel cannot be rewritten the plan
   * keeps a bind group per dispatch (`DecodePlan.sharedBindingsFailure` says why). Default: on where
   * a dispatch streams at most 16 MB of weights (`sharedBindingsByDefault`), where the host's time a
   * step matters; on the H200 SmolLM2-135M and Qwen2.5-0.5B decode faster with it, Llama-3.2-1B
   * (GPU-bound) 3–5% slower (BENCHMARKS.md). In Node SLM_SHARED_BINDINGS=1 or 0 overrides the default.
   */
  sharedBindings?: boolean;
  /**
   * Steps to a command buffer: 1 or 2 (default; decode-plan-submit.ts). Two save the GPU's pause
   * between command buffers and half the submits (H200, paired runs: 0–1% more tokens a second for
   * SmolLM2-135M and Llama-3.2-1B); a step submitted ahead waits for the next before it goes to the
   * GPU, unless it closes a read-back batch or something waits for it.
   */
  stepsPerSubmit?: 1 | 2;
}

export interface MatvecTuning {
  lanes?: number;
  rowBlocks?: number;
  unroll?: number;
}

/**
 * Whether every matrix a plan would pack (2-D, K % 8 = 0) holds only bf16-representable values (the
 * low 16 bits of each float32 zero), i.e. packing it to bf16 loses nothing. Checked on the device.
 */
export async function bf16Exact(model: Transformer): Promise<boolean> {
  const sources = [...model.params.values()]
    .filter((t) => t.rank === 2 && t.shape[1]! % 8 === 0)
    .map((t) => ({
      binding: { buffer: (t.storage as GpuStorage).buffer, size: t.size * 4 },
      elements: t.size,
    }));
  return bf16ExactOnDevice((model.backend as WebGPUBackend).runtime, sources);
}

/** Whether the matvec kernels can reduce with subgroups on this backend. */
export function subgroupsUsable(backend: WebGPUBackend): boolean {
  const runtime = backend.runtime;
  return runtime.features.has('subgroups') && runtime.subgroupMaxSize > 0 && runtime.subgroupMaxSize <= 32;
}

export interface SampledStepOptions {
  /** Also read back the step's logits [vocab] (a debug read of the whole row). */
  logits?: boolean;
  /** The uniform draw in [0, 1) of a sampled step (as `selectToken` takes from its Rng). */
  u?: number;
}

export interface DecodeStepResult {
  token: number;
  /** The step's logits [vocab] (only when asked for: a debug read of the whole row). */
  logits?: Float32Array;
}

/**
 * Weight bytes a planned dispatch streams (bf16), on average, up to which shared bindings are the
 * default: there a dispatch's GPU time is within a few times its host cost (~3.5 µs on the H200
 * machine), so the host's time per step matters. SmolLM2-135M streams ~1.4 MB a dispatch, Qwen2.5-0.5B
 * ~6 MB, Llama-3.2-1B ~24 MB (a GPU-bound step, where shared bindings measured 3–5% slower).
 */
export const sharedBindingsBytesPerDispatch = 16e6;

/**
 * DecodePlanOptions.sharedBindings' default: on for models whose layers stream at most
 * `sharedBindingsBytesPerDispatch` a dispatch (five dispatches a layer, 16-bit weights); SLM_SHARED_BINDINGS
 * (Node) set to 1 or 0 overrides it.
 */
export function sharedBindingsByDefault(model: Transformer): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.SLM_SHARED_BINDINGS === '1') return true;
  if (env?.SLM_SHARED_BINDINGS === '0') return false;
  let layerParams = 0;
  for (const [path, t] of model.params) if (path.startsWith('model.layers.')) layerParams += t.size;
  const dispatches = 5 * Math.max(1, model.order.length);
  return (2 * layerParams) / dispatches <= sharedBindingsBytesPerDispatch;
}

/**
 * The plan's matvec weight format for `requested` (DecodePlanOptions.weights): a model loaded
 * bf16-packed (gpuWeights 'bf16') streams its matrices as they are, bf16; 'auto' is bf16 when every
 * matrix is exactly representable in bf16, else f32.
 */
export async function planWeightFormat(
  model: Transformer,
  device: GPUDevice,
  requested: DecodePlanOptions['weights'],
): Promise<WeightFormat> {
  const packedModel = [...model.params.values()].some(isPackedTensor);
  requested ??= packedModel ? 'bf16' : 'f32';
  if (packedModel && requested !== 'bf16' && requested !== 'auto')
    throw new Error(
      `this model holds bf16-packed weights (loaded with gpuWeights 'bf16'): its plan streams bf16, not ${requested}`,
    );
  if (packedModel) return 'bf16';
  if (requested !== 'auto') return requested;
  device.pushErrorScope('validation');
  const exact = await bf16Exact(model);
  const error = await device.popErrorScope();
  if (error) throw new Error(`checking the weights for bf16 failed: ${error.message}`);
  return exact ? 'bf16' : 'f32';
}

/** Checks a plan request (config, backend, dtype, capacity, subgroups, splits); what it resolved. */
export function checkPlanRequest(
  model: Transformer,
  capacity: number,
  options: DecodePlanOptions,
): { backend: WebGPUBackend; subgroups: boolean; splits: number } {
  const reason = planSupport(model.config);
  if (reason) throw new Error(`no planned decode for this config: ${reason}`);
  if (model.backend.name !== 'webgpu') throw new Error('the planned decode step needs a webgpu model');
  if (model.dtype !== 'float32')
    throw new Error(`the planned decode step needs float32 weights, got ${model.dtype}`);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > model.config.maxPositionEmbeddings)
    throw new Error(`capacity must be in [1, ${model.config.maxPositionEmbeddings}], got ${capacity}`);
  const backend = model.backend as WebGPUBackend;
  const subgroups = options.subgroups ?? subgroupsUsable(backend);
  if (subgroups && !subgroupsUsable(backend))
    throw new Error('subgroup reductions need the subgroups feature with subgroups of at most 32');
  const splits = options.splits ?? defaultSplits(capacity, model.config.numAttentionHeads);
  // The attention kernel holds one split's scores, q and k in workgroup memory.
  const workgroupBytes = attentionWorkgroupBytes(capacity, splits, model.config.headDim);
  const limit = backend.runtime.device.limits.maxComputeWorkgroupStorageSize;
  if (!Number.isInteger(splits) || splits < 1 || workgroupBytes > limit) {
    throw new Error(
      `attention splits must be a positive integer leaving at most ${limit} bytes of workgroup memory; ${splits} splits of a ${capacity}-position plan need ${workgroupBytes}`,
    );
  }
  return { backend, subgroups, splits };
}

/** Throws when `tuning` names dispatch kinds the plan has no matvec of (listing the kinds it has). */
export function checkTuningMatched(
  tuning: Readonly<Record<string, MatvecTuning>>,
  tuned: ReadonlySet<string>,
  dispatches: readonly { label: string }[],
): void {
  const unmatched = Object.keys(tuning).filter((k) => !tuned.has(k));
  if (unmatched.length === 0) return;
  const kinds = [...new Set(dispatches.map((d) => d.label.replace(/\d+/g, '#')))];
  throw new Error(
    `matvec tuning names kinds this plan has no matvec of: ${unmatched.join(', ')} (its kinds: ${kinds.join(', ')})`,
  );
}
