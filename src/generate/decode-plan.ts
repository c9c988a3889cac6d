/// <reference types="@webgpu/types" />
/**
 * A planned batch-1 decode step on WebGPU (DESIGN.md principle 5). Built once per model and context
 * size over preallocated buffers — KV cache [layers][1, G, capacity, hd], activations, a 16-byte step
 * uniform holding the position — as a fixed list of (pipeline, bind group, workgroups) that every token
 * replays into one compute pass (two steps to a submit: decode-plan-submit.ts); the greedy token comes
 * back as 4 bytes (the argmax runs on the GPU and also feeds the next step's embedding).
 *
 * Per layer, 5 dispatches: norm·QKV(+bias) → attention splits (RoPE and cache write fused in) →
 * combine of the splits · o-proj + residual → norm·gate/up·SiLU·mul → down + residual. Plus embedding,
 * norm·LM head with per-workgroup argmax, and the final argmax: 5·layers + 3 per token (6·layers + 3
 * where the combine runs on its own: `fuseCombine: false`, or too little workgroup memory).
 *
 * Prefill runs the eager path into the same KV buffers (`cache`, a KVCache over the plan's buffers).
 *
 * Sampling (`setSampling`): the GPU sampler's 2–3 dispatches (decode/sample.ts) replace the final
 * argmax, so a sampled step also reads back 4 bytes and feeds the next step on the GPU. The caller
 * passes each step's draw u (word 2 of the step uniform); the penalty's history is a presence bitmap
 * set at prefill (or `setHistory`) and extended on the GPU with each input token.
 */

import type { WeightFormat } from '../backend/webgpu/decode/half.js';
import {
  type GpuSampler,
  type GpuSamplingParams,
  gpuSamplingParams,
} from '../backend/webgpu/decode/sample.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import type { GpuStorage } from '../backend/webgpu/runtime.js';
import { KVCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import { argmax } from '../ops/index.js';
import { scopeAsync } from '../tensor/tensor.js';
import { buildInErrorScopes } from './decode-plan-build.js';
import {
  checkPlanRequest,
  checkTuningMatched,
  type DecodePlanOptions,
  type DecodeStepResult,
  planWeightFormat,
  type SampledStepOptions,
  sharedBindingsByDefault,
} from './decode-plan-options.js';
import { CachedIds, prefillForward } from './decode-plan-prefix.js';
import { profileStep, type StepProfile } from './decode-plan-profile.js';
import { readBackBatch, TokenReadBack } from './decode-plan-readback.js';
import { COPY_DST, encodeDispatches, type PlannedDispatch, StepRecorder } from './decode-plan-record.js';
import { planSampler, sampledStep, stepDraw } from './decode-plan-sampler.js';
import { StepSubmitter } from './decode-plan-submit.js';
import { argmaxOf, type SamplingOptions } from './sampling.js';

export type { DecodePlanOptions, DecodeStepResult, SampledStepOptions } from './decode-plan-options.js';
export { subgroupsUsable } from './decode-plan-options.js';

/** Token read-back batches that may be in flight at once (each has its own staging buffer). */
const stagingRing = 3;
/** Steps a caller can keep submitted ahead of the one it reads back. */
export const maxAhead = readBackBatch;
const MAP_READ = 0x01;

export class DecodePlan {
  /** The eager-compatible view of the plan's KV buffers (prefill writes through it). */
  readonly cache: KVCache;
  /** Dispatches encoded by `step` so far (counted while replaying). */
  dispatchCount = 0;
  private readonly device: GPUDevice;
  private readonly recorder: StepRecorder;
  /** Token read-back, in batches of steps. */
  private readonly readback: TokenReadBack;
  private logitStaging: GPUBuffer | null = null;
  private logitsInflight: Promise<void> = Promise.resolve();
  private readonly stepWords = new Uint32Array(4);
  /** Whether the GPU's token buffer holds the input of the next step (the last step's argmax). */
  private gpuHasToken = false;
  /** That token's value when known (read back), else null. */
  private deviceToken: number | null = null;
  private submitted = 0;
  /** Command buffers of the steps (DecodePlanOptions.stepsPerSubmit), made by `record`. */
  private steps!: StepSubmitter;
  private submitting: Promise<void> = Promise.resolve();
  /** The GPU sampler (made by the first `setSampling`) and the step's dispatches while it is on. */
  private sampler: GpuSampler | null = null;
  private sampledDispatches: readonly PlannedDispatch[] | null = null;
  /** Ids of the cached positions, for a prompt that starts with them (`reusePrefix`). */
  private readonly known = new CachedIds();
  /** Positions the last prefill found in the cache, and those it ran through the model. */
  lastPrefill = { reused: 0, computed: 0 };

  private constructor(
    readonly model: Transformer,
    private readonly backend: WebGPUBackend,
    readonly capacity: number,
    weights: WeightFormat,
    subgroups: boolean,
  ) {
    this.device = backend.runtime.device;
    this.cache = new KVCache(model.order.length, capacity);
    this.recorder = new StepRecorder(model, backend, capacity, this.cache, weights, subgroups);
    this.readback = new TokenReadBack((bytes, usage) => this.recorder.buffer(bytes, usage), stagingRing);
  }

  /** The recorded step: (pipeline, bind group, workgroups) in order. */
  get dispatches(): readonly PlannedDispatch[] {
    return this.recorder.dispatches;
  }

  /** Whether the matvecs reduce with subgroups. */
  get usesSubgroups(): boolean {
    return this.recorder.subgroups;
  }

  /** The matvec weight storage in use ('auto' resolved). */
  get weightFormat(): WeightFormat {
    return this.recorder.weightFormat;
  }

  /** Matrices the plan streams as 16-bit copies. */
  get packedMatrices(): number {
    return this.recorder.packed.size;
  }

  /** Dispatches replayed per token (with the sampler's when sampling is on). */
  get dispatchesPerToken(): number {
    return (this.sampledDispatches ?? this.recorder.dispatches).length;
  }

  /** Builds the plan for `model` (webgpu, float32, planSupport-ed config) and `capacity` positions. */
  static async create(
    model: Transformer,
    capacity: number,
    options: DecodePlanOptions = {},
  ): Promise<DecodePlan> {
    const { backend, subgroups, splits } = checkPlanRequest(model, capacity, options);
    const weights = await planWeightFormat(model, backend.runtime.device, options.weights);
    if (options.sharedBindings ?? sharedBindingsByDefault(model)) {
      try {
        return await DecodePlan.record(model, backend, capacity, weights, subgroups, splits, options, true);
      } catch (error) {
        // A kernel the rewrite does not handle: a bind group per dispatch, and the reason kept.
        const plan = await DecodePlan.record(model, backend, capacity, weights, subgroups, splits, options);
        plan.sharedBindingsFailure = (error as Error).message;
        return plan;
      }
    }
    return DecodePlan.record(model, backend, capacity, weights, subgroups, splits, options);
  }

  /** Why the plan has a bind group per dispatch although `sharedBindings` was asked for, or null. */
  sharedBindingsFailure: string | null = null;

  /** Whether the step's dispatches share bind groups (DecodePlanOptions.sharedBindings). */
  get sharedBindings(): boolean {
    return this.recorder.sharedBindings;
  }

  private static async record(
    model: Transformer,
    backend: WebGPUBackend,
    capacity: number,
    weights: WeightFormat,
    subgroups: boolean,
    splits: number,
    options: DecodePlanOptions,
    shared = false,
  ): Promise<DecodePlan> {
    const plan = new DecodePlan(model, backend, capacity, weights, subgroups);
    plan.recorder.sharedBindings = shared;
    const build = async () => {
      await plan.recorder.packWeights();
      plan.recorder.tuning = options.matvecTuning ?? {};
      plan.recorder.build(splits, options.fuseCombine ?? true);
      plan.steps = new StepSubmitter(
        plan.device,
        plan.recorder.stepUniform,
        (bytes, usage) => plan.recorder.buffer(bytes, usage),
        options.stepsPerSubmit ?? 2,
      );
      checkTuningMatched(plan.recorder.tuning, plan.recorder.tuned, plan.recorder.dispatches);
    };
    await buildInErrorScopes(plan.device, build, () => {
      // Commands recorded before the failure (copies into the plan's buffers) go before those die.
      backend.runtime.flush();
      plan.dispose();
    });
    return plan;
  }

  /** Position of the next step (= cached positions). */
  get position(): number {
    return this.cache.length;
  }

  /**
   * Forgets the cache and runs the prompt through the eager path into the plan's KV buffers; returns
   * the greedy (or, with GPU sampling, sampled) next token, which also stays on the GPU as the next
   * step's input; with `logits`, the last position's logits too, and then the next step needs its token.
   */
  async prefill(
    promptIds: readonly number[],
    options: SampledStepOptions & { history?: readonly number[] } = {},
  ): Promise<DecodeStepResult> {
    return (await this.prefillSubmit(promptIds, options)).result;
  }

  /**
   * `prefill` without waiting for the token: resolves once the prefill is submitted, with `result`
   * for its token, so that steps can go in behind the prefill before its token is read back.
   */
  async prefillSubmit(
    promptIds: readonly number[],
    {
      logits = false,
      u,
      history = promptIds,
      reusePrefix = false,
      pad = true,
    }: SampledStepOptions & { history?: readonly number[]; reusePrefix?: boolean; pad?: boolean } = {},
  ): Promise<{ result: Promise<DecodeStepResult> }> {
    if (promptIds.length === 0) throw new Error('the prompt is empty');
    if (promptIds.length > this.capacity)
      throw new Error(`a ${promptIds.length}-token prompt does not fit a ${this.capacity}-position plan`);
    const sampled = this.sampledDispatches !== null && !logits;
    const draw = sampled ? this.checkDraw(u) : 0;
    this.steps.flush();
    // With reusePrefix, the positions whose ids start the prompt stay; the rest of it runs.
    const reused = reusePrefix ? this.known.commonPrefix(promptIds, this.cache.length) : 0;
    this.cache.length = reused;
    this.known.prompt(promptIds, reused);
    this.lastPrefill = { reused, computed: promptIds.length - reused };
    this.gpuHasToken = false;
    this.deviceToken = null;
    const runtime = this.backend.runtime;
    // Small first submits, as after a read (else SmolLM2's time to first token was 10 ms longer).
    runtime.idle();
    // Buffers the last prefill released return to the pool first, so that this one is served as it was.
    runtime.flush();
    return scopeAsync(async () => {
      const last = prefillForward(this.model, this.cache, promptIds, pad ? this.capacity : 0);
      if (logits) {
        const row = Float32Array.from(await last.data());
        return { result: Promise.resolve({ token: argmaxOf(row), logits: row }) };
      }
      if (sampled) {
        // The last row goes through the sampler's dispatches.
        runtime.copy(
          (last.storage as GpuStorage).buffer,
          this.recorder.logits,
          this.model.config.vocabSize * 4,
        );
        runtime.flush();
        this.sampler!.writeHistory(history);
        const queue = this.device.queue;
        queue.writeBuffer(this.recorder.tokens, 0, new Uint32Array([promptIds[promptIds.length - 1]!]));
        queue.writeBuffer(this.recorder.stepUniform, 8, new Uint32Array([draw]));
      } else {
        // The greedy token (int32: the same bits as u32) becomes the next step's input.
        const best = argmax(last);
        runtime.copy((best.storage as GpuStorage).buffer, this.recorder.tokens, 4);
        runtime.flush();
      }
      const encoder = this.device.createCommandEncoder();
      if (sampled) {
        const pass = encoder.beginComputePass();
        encodeDispatches(pass, this.sampler!.dispatches);
        pass.end();
      }
      await this.readback.reserve();
      const serial = ++this.submitted;
      const token = this.readback.record(encoder, this.recorder.tokens, serial);
      this.device.queue.submit([encoder.finish()]);
      this.readback.close();
      this.gpuHasToken = true;
      return { result: this.finish(token, null, serial, promptIds.length - 1) };
    });
  }

  /**
   * Turns GPU sampling on with these options (validated: a bad one throws naming it), or off (null:
   * greedy argmax again). While on, every step (and the prefill, unless it asks for logits) samples on
   * the GPU and needs its draw `u` in [0, 1) when the options sample; greedy options with a repetition
   * penalty take the penalized argmax and need none.
   */
  async setSampling(options: SamplingOptions | null): Promise<GpuSamplingParams | null> {
    this.steps.flush();
    if (options === null) {
      this.sampledDispatches = null;
      return null;
    }
    gpuSamplingParams(options, this.model.config.vocabSize); // bad options throw before any GPU work
    this.sampler ??= await planSampler(this.backend, this.recorder, this.model.config.vocabSize);
    const params = this.sampler.configure(options);
    // The LM head's per-workgroup argmax stays, unused.
    this.sampledDispatches = sampledStep(this.recorder.dispatches, this.sampler);
    return params;
  }

  /** The active GPU sampling options (null: greedy). */
  get sampling(): GpuSamplingParams | null {
    return this.sampledDispatches ? this.sampler!.options : null;
  }

  /**
   * Sets the repetition penalty's history to the ids of `history` (prefill sets it to the prompt;
   * each step adds its input token on the GPU).
   */
  setHistory(history: readonly number[]): void {
    if (!this.sampler) throw new Error('setHistory needs GPU sampling (setSampling)');
    this.steps.flush();
    this.sampler.writeHistory(history);
  }

  /** The step uniform's word 2 for draw u (0 when the options do not sample). */
  private checkDraw(u: number | undefined): number {
    return stepDraw(this.sampledDispatches ? this.sampler : null, u);
  }

  /**
   * Sets the position of the next step back to `position` (≤ the current one), e.g. to drop a step
   * submitted ahead that is not wanted; the next step must then be given its token.
   */
  rewind(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position > this.cache.length)
      throw new Error(`cannot rewind to position ${position} (at ${this.cache.length})`);
    this.steps.flush(); // a dropped step still runs, before the ones that replace it
    this.cache.length = position;
    this.known.truncate(position);
    this.gpuHasToken = false;
    this.deviceToken = null;
  }

  /**
   * One decode step at `position`: feeds `token` (default: the previous step's argmax, already on the
   * GPU), returns the greedy next token, and the logits row when `logits` is set.
   */
  async step(token?: number, options: SampledStepOptions = {}): Promise<DecodeStepResult> {
    return (await this.submit(token, options)).result;
  }

  /**
   * Encodes and submits one step without waiting for it; `result` resolves when its token is read
   * back. Steps can be submitted ahead: a step without a token feeds the previous step's argmax on the
   * GPU, so the host's read-back overlaps the next steps' work. `readBack: false` leaves the step's
   * token in the open read-back batch, read with the next step that reads back (or `readBackNow`):
   * one map for several steps. `step` is the step's serial number (for `readBackNow`). `hold: false`
   * submits the step at once instead of holding it for a shared command buffer (stepsPerSubmit):
   * while the GPU has little queued, a held step would leave it idle.
   */
  submit(
    token?: number,
    {
      logits = false,
      u,
      readBack = true,
      hold = true,
    }: SampledStepOptions & { readBack?: boolean; hold?: boolean } = {},
  ): Promise<{ result: Promise<DecodeStepResult>; step: number }> {
    // Submits run one after another even when the caller does not await each (positions in order).
    const submitted = this.submitting.then(() => this.submitNow(token, logits, u, readBack, hold));
    this.submitting = submitted.then(
      () => undefined,
      () => undefined,
    );
    return submitted;
  }

  /**
   * Reads back the open batch now if it holds step `step` (a serial from `submit`), so that the step's
   * result resolves without waiting for a later step to read back.
   */
  async readBackNow(step: number): Promise<void> {
    await this.submitting; // a submit still encoding may be adding to the batch
    if (!this.readback.holds(step)) return;
    this.steps.flush();
    this.readback.close();
  }

  /**
   * Submits a step held for a shared command buffer (stepsPerSubmit), so that the GPU has every step
   * encoded so far: call before waiting for a token, since a held step would wait too.
   */
  async flushHeld(): Promise<void> {
    await this.submitting;
    this.steps.flush();
  }

  /** Throws unless `token` is undefined (then the GPU must hold one) or an id of the vocabulary. */
  private checkToken(token: number | undefined): void {
    if (
      token !== undefined &&
      (!Number.isInteger(token) || token < 0 || token >= this.model.config.vocabSize)
    )
      throw new Error(`token id ${token} is outside the vocabulary`);
    if (token === undefined && !this.gpuHasToken) throw new Error('no token to feed: pass one after prefill');
  }

  private async submitNow(
    token: number | undefined,
    logits: boolean,
    u: number | undefined,
    readBack: boolean,
    hold: boolean,
  ): Promise<{ result: Promise<DecodeStepResult>; step: number }> {
    const pos = this.cache.length;
    this.stepWords[2] = this.checkDraw(u);
    if (pos >= this.capacity)
      throw new Error(`the decode plan holds ${this.capacity} positions; all are used`);
    await this.readback.reserve(); // a staging buffer for the step's token
    if (logits) await this.logitsInflight;
    this.checkToken(token);
    const runtime = this.backend.runtime;
    const hostToken = token !== undefined && token !== this.deviceToken;
    // A held step runs before eager work encoded since, and before a token written from the host.
    if (runtime.pending || hostToken || logits) this.steps.flush();
    runtime.flush(); // eager work encoded before this step runs first
    if (hostToken) this.device.queue.writeBuffer(this.recorder.tokens, 0, new Uint32Array([token!]));
    this.known.fed(pos, token ?? this.deviceToken ?? undefined, this.submitted);
    this.stepWords[0] = pos;
    this.stepWords[1] = pos + 1;
    const encoder = this.steps.begin(this.stepWords);
    const pass = encoder.beginComputePass();
    this.dispatchCount += encodeDispatches(pass, this.sampledDispatches ?? this.recorder.dispatches);
    pass.end();
    const serial = ++this.submitted;
    const tokenRead = this.readback.record(encoder, this.recorder.tokens, serial);
    let logitStaging: GPUBuffer | null = null;
    if (logits) {
      this.logitStaging ??= this.recorder.buffer(this.model.config.vocabSize * 4, MAP_READ | COPY_DST);
      logitStaging = this.logitStaging;
      encoder.copyBufferToBuffer(this.recorder.logits, 0, logitStaging, 0, logitStaging.size);
    }
    const closing = readBack || logits || this.readback.full;
    this.steps.end(encoder, closing || !hold);
    if (closing) this.readback.close();
    this.cache.length = pos + 1;
    this.gpuHasToken = true;
    this.deviceToken = null; // known once read back
    const result = this.finish(tokenRead, logitStaging, serial, pos);
    // Steps submitted ahead and then dropped are never awaited: their failure (the plan disposed while
    // they were read) must not surface as an unhandled rejection.
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    if (logits) this.logitsInflight = settled;
    return { result, step: serial };
  }

  /** A step's result once its token is read back (and its logits, when they were asked for). */
  private async finish(
    tokenRead: Promise<number>,
    logitStaging: GPUBuffer | null,
    serial: number,
    position: number,
  ): Promise<DecodeStepResult> {
    const token = await tokenRead;
    this.known.produced(position, serial, token);
    if (serial === this.submitted) this.deviceToken = token; // no later step has replaced it
    const result: DecodeStepResult = { token };
    if (logitStaging) {
      await logitStaging.mapAsync(0x0001);
      const bytes = this.model.config.vocabSize * 4;
      result.logits = new Float32Array(logitStaging.getMappedRange().slice(0, bytes));
      logitStaging.unmap();
    }
    this.backend.runtime.checkErrors();
    return result;
  }

  /**
   * Where a step's time goes (for benchmarks; decode-plan-profile.ts): host time to encode and submit
   * a step, the period of steps submitted back to back, and with timestamp queries the GPU time of a
   * step and per dispatch label. Runs at the current position without advancing it.
   */
  async profile(steps = 50): Promise<StepProfile> {
    if (!this.gpuHasToken) throw new Error('profile needs a step to have run (prefill, then step)');
    const pos = this.cache.length;
    if (pos >= this.capacity) throw new Error('profile needs a free position');
    this.steps.flush();
    const timestamps = this.backend.runtime.features.has('timestamp-query');
    return profileStep(this.device, this.recorder, timestamps, steps, this.stepWords, pos);
  }

  /** Frees the plan's buffers and KV cache (the model's weights stay). */
  dispose(): void {
    this.steps?.drop();
    for (const buffer of this.recorder.owned) buffer.destroy();
    this.recorder.owned.length = 0;
    for (const t of this.recorder.cacheTensors) t.dispose();
    this.recorder.cacheTensors.length = 0;
    for (const s of this.cache.slots) {
      s.keys = null;
      s.values = null;
    }
    this.cache.length = 0;
  }
}
