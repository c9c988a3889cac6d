/**
 * Decoding benchmark: time to first token (prefill of the prompt into a fresh KV cache), prefill and
 * batch-1 greedy decode throughput (each run's decode time over its tokens; medians over runs), weight
 * bytes streamed per token and the bandwidth that implies. The same loop users run, timed from the
 * host with a read-back per token.
 */

import type { Backend } from '../backend/backend.js';
import type { WeightFormat } from '../backend/webgpu/decode/half.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import { isPackedTensor } from '../backend/webgpu/packed.js';
import type { Transformer } from '../model/transformer.js';
import { argmax } from '../ops/index.js';
import { Rng } from '../tensor/random.js';
import { scopeAsync } from '../tensor/tensor.js';
import { DecodePlan, type DecodePlanOptions } from './decode-plan.js';
import { plannedPathReason } from './decode-support.js';
import { countDispatches, type DecodePath, decoderForPlan } from './decoder.js';

export interface DecodeBenchOptions {
  promptTokens: number;
  genTokens: number;
  runs: number;
  /** Untimed runs first (pipeline compilation, allocator warm-up). */
  warmup?: number;
  seed?: number;
  /** 'auto' (default): the planned step where plannedPathReason allows it, else eager. */
  path?: 'auto' | DecodePath;
  /** Matvec weight storage of the planned step (f16/bf16 halve the bytes per token; 'auto' as in DecodePlanOptions); default f32. */
  planWeights?: WeightFormat | 'auto';
  /** Attention splits of the planned step (default: one per 64 positions). */
  planSplits?: number;
  /** Matvec layouts of the planned step by dispatch kind (DecodePlanOptions.matvecTuning). */
  planTuning?: DecodePlanOptions['matvecTuning'];
  /** Bind groups shared by a layer's dispatches (DecodePlanOptions.sharedBindings; default off). */
  planSharedBindings?: boolean;
  /** Planned steps to a command buffer (DecodePlanOptions.stepsPerSubmit; default 2). */
  planStepsPerSubmit?: 1 | 2;
  /** Planned steps kept submitted ahead of the read-back (DecoderOptions.planAhead); default 5. */
  planAhead?: number;
  onRun?: (run: number, result: DecodeRun) => void;
}

export interface DecodeRun {
  timeToFirstTokenMs: number;
  /** Per generated token after the first, in ms. */
  decodeStepsMs: number[];
}

export interface DecodeBenchResult {
  promptTokens: number;
  genTokens: number;
  runs: number;
  timeToFirstTokenMs: number;
  prefillTokensPerSecond: number;
  msPerToken: number;
  decodeTokensPerSecond: number;
  /** The first decode step alone (median of the runs): the planned decoder fills its steps ahead in it. */
  firstDecodeStepMs: number;
  /** Mean step after the first `settleSteps` (median of the runs); null with too few tokens. */
  steadyMsPerToken: number | null;
  /** Parameter bytes read per decoded token (every matrix once; embedding rows only, unless tied to the head). */
  weightBytesPerToken: number;
  achievedGBps: number;
  path: DecodePath;
  /** Why the eager path was used (null when planned). */
  eagerReason: string | null;
  /** GPU dispatches per decoded token (null off webgpu). */
  dispatchesPerToken: number | null;
  /** Matvec weight storage used (f32 on the eager path). */
  planWeights: WeightFormat;
  /** Whether the planned step shared bind groups (false on the eager path, or where it fell back). */
  planSharedBindings: boolean;
  /** Planned steps to a command buffer (null on the eager path). */
  planStepsPerSubmit: 1 | 2 | null;
}

/** Decode steps after which the planned decoder's steps ahead are filled (`steadyMsPerToken`). */
export const settleSteps = 8;

/** A run's first decode step, and its mean step after `settleSteps` (null unless as many more follow). */
export function decodeStepSplit(stepsMs: readonly number[]): { firstMs: number; steadyMs: number | null } {
  const rest = stepsMs.slice(settleSteps);
  return {
    firstMs: stepsMs[0] ?? 0,
    steadyMs: rest.length >= settleSteps ? rest.reduce((a, b) => a + b, 0) / rest.length : null,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Bytes of parameters streamed for one decoded token at `bytesPerWeight` per element; with a 16-bit
 * `planWeights` format, the matrices the planned step packs (K % 8 = 0) count 2 bytes per element, and
 * so does every matrix held bf16-packed (a model loaded with gpuWeights 'bf16'), on either path.
 */
export function weightBytesPerToken(
  model: Transformer,
  bytesPerWeight = 4,
  planWeights: WeightFormat = 'f32',
): number {
  let bytes = 0;
  for (const spec of model.specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const held = model.params.get(spec.path);
    const stored = held && isPackedTensor(held) ? 2 : bytesPerWeight;
    const packed =
      stored === 2 || (planWeights !== 'f32' && spec.shape.length === 2 && spec.shape[1]! % 8 === 0);
    if (spec.path === 'model.embed_tokens.weight' && !model.config.tieWordEmbeddings)
      bytes += spec.shape[1]! * stored;
    else if (spec.path === 'model.embed_positions.weight') bytes += spec.shape[1]! * stored;
    else if (packed && spec.path === 'model.embed_tokens.weight')
      bytes += size * 2 + spec.shape[1]! * stored; // the packed head plus the embedding row
    else bytes += size * (packed ? 2 : bytesPerWeight);
  }
  return bytes;
}

/** A deterministic pseudo-random prompt of ids in the vocabulary. */
function promptIds(length: number, vocab: number, seed: number): number[] {
  return Array.from({ length }, (_, i) => (Math.imul(i + 1 + seed, 2654435761) >>> 0) % vocab);
}

async function oneRun(model: Transformer, prompt: number[], genTokens: number): Promise<DecodeRun> {
  const cache = model.newCache(prompt.length + genTokens);
  try {
    const next = async (ids: number[]) =>
      scopeAsync(async () => {
        const last = argmax(model.forward([ids], { cache, lastPositionOnly: true }));
        return (await last.data())[0]!;
      });
    const start = performance.now();
    let token = await next(prompt);
    const timeToFirstTokenMs = performance.now() - start;
    const decodeStepsMs: number[] = [];
    for (let i = 1; i < genTokens; i++) {
      const t0 = performance.now();
      token = await next([token]);
      decodeStepsMs.push(performance.now() - t0);
    }
    return { timeToFirstTokenMs, decodeStepsMs };
  } finally {
    cache.dispose();
  }
}

/** The same run through the planned decoder `generate()` uses (prefill eager, then replayed steps). */
async function plannedRun(
  plan: DecodePlan,
  prompt: number[],
  genTokens: number,
  planAhead: number | undefined,
): Promise<DecodeRun> {
  const decoder = decoderForPlan(plan, planAhead === undefined ? {} : { planAhead }, new Rng(0));
  try {
    const start = performance.now();
    let token = await decoder.next(prompt, prompt);
    const timeToFirstTokenMs = performance.now() - start;
    const decodeStepsMs: number[] = [];
    for (let i = 1; i < genTokens; i++) {
      const t0 = performance.now();
      token = await decoder.next([token], prompt);
      decodeStepsMs.push(performance.now() - t0);
    }
    return { timeToFirstTokenMs, decodeStepsMs };
  } finally {
    decoder.dispose();
  }
}

/** Dispatches of one eager decode step after a short prefill (null off webgpu). */
async function eagerDispatchesPerToken(model: Transformer, prompt: number[]): Promise<number | null> {
  const cache = model.newCache(prompt.length + 1);
  try {
    await scopeAsync(async () => (await argmax(model.forward([prompt], { cache })).data())[0]);
    return await countDispatches(model, () =>
      scopeAsync(async () => (await argmax(model.forward([[prompt[0]!]], { cache })).data())[0]),
    );
  } finally {
    cache.dispose();
  }
}

export async function benchmarkDecode(
  model: Transformer,
  options: DecodeBenchOptions,
): Promise<DecodeBenchResult> {
  const { promptTokens, genTokens, runs, warmup = 1, seed = 0 } = options;
  if (promptTokens < 1 || genTokens < 2 || runs < 1)
    throw new Error('need promptTokens >= 1, genTokens >= 2 and runs >= 1');
  if (promptTokens + genTokens > model.config.maxPositionEmbeddings) {
    throw new Error(
      `prompt + generated tokens (${promptTokens + genTokens}) exceed the context of ${model.config.maxPositionEmbeddings}`,
    );
  }
  const prompt = promptIds(promptTokens, model.config.vocabSize, seed);
  const requested = options.path ?? 'auto';
  const eagerReason = requested === 'eager' ? 'the eager path was asked for' : plannedPathReason(model);
  if (requested === 'planned' && eagerReason) throw new Error(`no planned decode: ${eagerReason}`);
  let path: DecodePath = eagerReason === null ? 'planned' : 'eager';
  let sharedBindings = false;
  let planWeights: WeightFormat = 'f32';
  // One plan serves every run (built, and 16-bit weights packed, once; each run's prefill starts over).
  let plan: DecodePlan | null = null;
  let reason = eagerReason;
  if (path === 'planned') {
    try {
      plan = await DecodePlan.create(model, promptTokens + genTokens, {
        weights: options.planWeights ?? 'f32',
        ...(options.planSplits ? { splits: options.planSplits } : {}),
        ...(options.planTuning ? { matvecTuning: options.planTuning } : {}),
        ...(options.planSharedBindings === undefined ? {} : { sharedBindings: options.planSharedBindings }),
        ...(options.planStepsPerSubmit ? { stepsPerSubmit: options.planStepsPerSubmit } : {}),
      });
      planWeights = plan.weightFormat;
      sharedBindings = plan.sharedBindings;
    } catch (error) {
      // 'auto': a device limit the plan exceeds leaves the eager path, with the reason reported.
      if (requested === 'planned') throw error;
      reason = `the planned step could not be built here (${(error as Error).message})`;
      path = 'eager';
      planWeights = 'f32';
    }
  }
  const run = (p: number[], n: number) =>
    plan ? plannedRun(plan, p, n, options.planAhead) : oneRun(model, p, n);
  const dispatchesPerToken = plan
    ? plan.dispatchesPerToken
    : await eagerDispatchesPerToken(model, prompt.slice(0, 4));
  const results: DecodeRun[] = [];
  try {
    for (let i = 0; i < warmup; i++) await run(prompt, Math.min(genTokens, 4));
    for (let r = 0; r < runs; r++) {
      const result = await run(prompt, genTokens);
      results.push(result);
      options.onRun?.(r, result);
    }
  } finally {
    plan?.dispose();
  }
  const ttft = median(results.map((r) => r.timeToFirstTokenMs));
  // Per run, the decode time over its tokens (the mean: with steps submitted ahead, tokens can arrive
  // unevenly, so a median step could hide cost); the median of the runs.
  const msPerToken = median(
    results.map((r) => r.decodeStepsMs.reduce((a, b) => a + b, 0) / Math.max(1, r.decodeStepsMs.length)),
  );
  const splits = results.map((r) => decodeStepSplit(r.decodeStepsMs));
  const steady = splits.map((s) => s.steadyMs);
  const bytes = weightBytesPerToken(model, 4, planWeights);
  return {
    promptTokens,
    genTokens,
    runs,
    timeToFirstTokenMs: ttft,
    prefillTokensPerSecond: (promptTokens / ttft) * 1000,
    msPerToken,
    decodeTokensPerSecond: 1000 / msPerToken,
    firstDecodeStepMs: median(splits.map((s) => s.firstMs)),
    steadyMsPerToken: steady.every((s) => s !== null) ? median(steady as number[]) : null,
    weightBytesPerToken: bytes,
    achievedGBps: bytes / msPerToken / 1e6,
    path,
    eagerReason: reason,
    dispatchesPerToken,
    planWeights,
    planSharedBindings: sharedBindings,
    planStepsPerSubmit: path === 'planned' ? (options.planStepsPerSubmit ?? 2) : null,
  };
}

/**
 * The backend's memory copy bandwidth in GB/s, counting bytes read plus bytes written (the ceiling the
 * decode's weight streaming is compared with): webgpu, a device buffer-to-buffer copy of up to 256 MiB
 * (median of 5, each sample 4 copies in one submit); cpu, a TypedArray copy of 64 MiB.
 */
export async function measureCopyBandwidth(backend: Backend): Promise<number> {
  const samples: number[] = [];
  if (backend.name === 'webgpu') {
    const device = (backend as WebGPUBackend).runtime.device;
    const size = Math.min(256 * 2 ** 20, 2 ** (31 - Math.clz32(device.limits.maxBufferSize)) / 2);
    const src = device.createBuffer({ size, usage: 0x04 | 0x08 }); // COPY_SRC | COPY_DST
    const dst = device.createBuffer({ size, usage: 0x08 });
    try {
      const copies = async (n: number) => {
        const encoder = device.createCommandEncoder();
        for (let i = 0; i < n; i++) encoder.copyBufferToBuffer(src, 0, dst, 0, size);
        const t0 = performance.now();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
      };
      await copies(1);
      for (let s = 0; s < 5; s++) samples.push((2 * 4 * size) / (await copies(4)) / 1e6);
    } finally {
      src.destroy();
      dst.destroy();
    }
  } else {
    const a = new Float32Array(16 * 2 ** 20).fill(1);
    const b = new Float32Array(a.length);
    for (let s = 0; s < 6; s++) {
      const t0 = performance.now();
      b.set(a);
      const ms = performance.now() - t0;
      if (s > 0) samples.push((2 * a.byteLength) / ms / 1e6);
    }
  }
  return median(samples);
}
