/**
 * The token source of the generation loop and the benchmark: the planned WebGPU decode step when
 * `plannedPathReason` allows it (webgpu, float32, a planned config) — the argmax or the sampler
 * (temperature, top-k, top-p, min-p, repetition penalty) on the GPU, 4 bytes read back per token and
 * one step submitted ahead — else the eager forward over a KV cache with host-side sampling. The first
 * `next` call prefills the prompt. The planned sampler draws u from the same Rng in the same order as
 * `selectToken`, so a seed gives the eager path's ids (up to float rounding).
 */
import type { WeightFormat } from '../backend/webgpu/decode/half.js';
import { gpuSamplingParams } from '../backend/webgpu/decode/sample.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import type { KVCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import type { Rng } from '../tensor/random.js';
import { scopeAsync } from '../tensor/tensor.js';
import { DecodePlan, type DecodeStepResult, maxAhead } from './decode-plan.js';
import { plannedPathReason } from './decode-support.js';
import { isSampling, type SamplingOptions, selectToken } from './sampling.js';

export type DecodePath = 'planned' | 'eager';

export interface TokenDecoder {
  readonly path: DecodePath;
  /** Why the eager path was taken (null on the planned path). */
  readonly reason: string | null;
  /** Prompt positions the first `next` found already in a kept plan's cache (not run again). */
  readonly cachedPromptTokens: number;
  /** The next token after `input` (the prompt on the first call, then the previous token). */
  next(input: readonly number[], history: readonly number[]): Promise<number>;
  dispose(): void;
}

export interface DecoderOptions extends SamplingOptions {
  /** 'eager' forces the op-by-op path (default 'auto'). */
  decodePath?: 'auto' | 'eager';
  /**
   * Matvec weight storage of the planned step (DecodePlanOptions.weights). Default 'auto': bf16 when
   * that is lossless (a bf16 checkpoint), else f32 — results equal either way.
   */
  planWeights?: WeightFormat | 'auto';
  /**
   * Keep the planned step for the model's next generation (chat turns, server requests): its bind
   * groups, KV buffers and 16-bit weight copies are made once, and a prompt that starts with the ids
   * its cache holds (the conversation so far: the last prompt and the tokens fed after it) prefills
   * only the rest. Only for models whose weights do not change in between (the plan holds its own
   * 16-bit copies and binds the f32 tensors it was built on); `releaseKeptPlan(model)` frees it.
   */
  keepPlan?: boolean;
  /**
   * Planned steps kept submitted ahead of the one being read back: 1 to 8, default 5. Tokens are read
   * back in batches of one step fewer (1 and 2: every step), one map per batch. Steps ahead that turn
   * out unwanted (a stop, or another token fed) are dropped; results do not depend on it.
   */
  planAhead?: number;
  /** Bind groups shared by a layer's dispatches in the planned step (DecodePlanOptions.sharedBindings). */
  planSharedBindings?: boolean;
  /** Planned steps to a command buffer (DecodePlanOptions.stepsPerSubmit; default 2). */
  planStepsPerSubmit?: 1 | 2;
}

class EagerDecoder implements TokenDecoder {
  readonly path = 'eager' as const;
  readonly cachedPromptTokens = 0;
  private readonly cache: KVCache;

  constructor(
    private readonly model: Transformer,
    capacity: number,
    private readonly options: SamplingOptions,
    private readonly rng: Rng,
    readonly reason: string,
  ) {
    this.cache = model.newCache(capacity);
  }

  async next(input: readonly number[], history: readonly number[]): Promise<number> {
    const logits = await scopeAsync(async () => {
      const last = this.model.forward([input], { cache: this.cache, lastPositionOnly: true });
      return Float32Array.from(await last.data());
    });
    return selectToken(logits, history, this.options, this.rng);
  }

  dispose(): void {
    this.cache.dispose();
  }
}

/**
 * Resolves on a later turn of the event loop, where a finished map is reported: `setImmediate` in
 * Node, a message to itself in browsers (whose zero-delay timers are clamped when nested).
 */
function nextTurn(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/** Steps the planned decoder keeps submitted ahead of the one it reads back, by default (DecoderOptions.planAhead). */
const defaultAhead = 5;

/**
 * Steps a read-back batch spans for `depth` steps ahead: one fewer, so that while the host waits for a
 * batch's last token at least one more step is queued behind it (the GPU never idles on the host).
 */
export function readBackEvery(depth: number): number {
  return Math.max(1, depth - 1);
}

function checkAhead(ahead: number): void {
  if (!Number.isInteger(ahead) || ahead < 1 || ahead > maxAhead)
    throw new Error(`planAhead must be an integer in [1, ${maxAhead}], got ${ahead}`);
}

/** A step submitted ahead, with whether its result has settled. */
interface Submitted {
  position: number;
  u: number | undefined;
  result: Promise<DecodeStepResult>;
  step: number;
  settled: boolean;
}

function tracked(
  position: number,
  u: number | undefined,
  submitted: { result: Promise<DecodeStepResult>; step: number },
): Submitted {
  const entry: Submitted = { position, u, ...submitted, settled: false };
  const settle = () => {
    entry.settled = true;
  };
  submitted.result.then(settle, settle);
  return entry;
}

/**
 * Decoding through the plan with steps submitted ahead: after submitting the step for token n it keeps
 * `depth` more steps submitted (each fed by the previous one's token, already on the GPU) before reading
 * n back, so the read-back round trip and the host's encoding of later steps overlap GPU work. With
 * host encoding and the GPU step about as long as each other (small models on a big GPU), one step
 * ahead leaves the GPU idle for every read-back's latency; two hide it. Steps submitted ahead that turn
 * out unwanted (generation stops, or the caller feeds another token) are dropped by rewinding the plan;
 * their draws u are kept, in order, for the steps that replace them, so the draws stay in the host
 * path's order. With sampling options every step samples on the GPU (DecodePlan.setSampling); no case
 * needs the logits row on the host any more, so there is no read-back sampling path. The repetition
 * penalty's history lives on the GPU (the prompt, then each input token); a `history` that is not the
 * previous one plus the input is written again.
 */
class PlannedDecoder implements TokenDecoder {
  readonly path = 'planned' as const;
  readonly reason = null;
  cachedPromptTokens = 0;
  private prefilled = false;
  /** Steps submitted ahead, oldest first: each was fed the token of the one before it. */
  private ahead: Submitted[] = [];
  private lastToken = -1;
  /** Draws of dropped steps, used in order by the next ones. */
  private spare: (number | undefined)[] = [];
  /** Length of the history the GPU's presence bitmap holds (with the last input). */
  private historyLength = 0;
  /** Position of the first step after the prefill, which reads back alone (-1: none). */
  private aloneAt = -1;

  constructor(
    readonly plan: DecodePlan,
    private readonly ownsPlan: boolean,
    private readonly sampling: { options: SamplingOptions; rng: Rng } | null = null,
    private readonly depth = defaultAhead,
    /** Prefill only the part of the prompt the plan's cache does not already hold (a kept plan). */
    private readonly reusePrefix = false,
  ) {
    checkAhead(depth);
  }

  private draw(): number | undefined {
    if (!this.sampling || !isSampling(this.sampling.options)) return undefined;
    return this.spare.length > 0 ? this.spare.shift() : this.sampling.rng.uniform();
  }

  async next(input: readonly number[], history: readonly number[] = input): Promise<number> {
    if (!this.prefilled) {
      this.prefilled = true;
      await this.plan.setSampling(this.sampling?.options ?? null);
      const prefill = await this.plan.prefillSubmit(input, {
        u: this.draw(),
        history,
        reusePrefix: this.reusePrefix,
      });
      this.historyLength = history.length;
      this.cachedPromptTokens = this.plan.lastPrefill.reused;
      // The prompt's token stays on the GPU: steps go in behind the prefill, encoded while the GPU
      // runs the prompt, until its token is back (or `depth` are queued). So the GPU has the next
      // steps' work while the host encodes the rest, and the first token waits for at most one step's
      // encoding (the event loop learns of the token between steps).
      // The first of them reads its token back alone: it need not wait for a batch of later steps.
      this.aloneAt = this.plan.position;
      const prompt = tracked(-1, undefined, { result: prefill.result, step: -1 });
      while (!prompt.settled && this.ahead.length < this.depth) {
        await this.topUp(this.ahead.length + 1);
        await nextTurn();
      }
      await this.plan.flushHeld(); // the GPU gets every step encoded, even one held for a pair
      this.lastToken = (await prefill.result).token;
      return this.lastToken;
    }
    if (input.length !== 1) throw new Error('after the prompt, the planned decoder takes one token per step');
    const penalty = (this.sampling?.options.repetitionPenalty ?? 1) !== 1;
    const historyKnown =
      !penalty || (history.length === this.historyLength + 1 && history[history.length - 1] === input[0]);
    let current: Submitted;
    const first = this.ahead[0];
    if (first && input[0] === this.lastToken && historyKnown) {
      current = first;
      this.ahead.shift();
    } else {
      // Dropped steps ahead have put their inputs (our last token first) into the GPU's history.
      if (penalty && (first || !historyKnown)) this.plan.setHistory(history);
      if (first) {
        this.plan.rewind(first.position);
        this.spare = [...this.ahead.map((a) => a.u), ...this.spare];
        this.ahead = [];
      }
      // Nothing queued on the GPU: this step goes at once and reads back alone, so that its token
      // does not wait for a batch (or a shared command buffer) to fill.
      current = tracked(
        this.plan.position,
        undefined,
        await this.plan.submit(input[0]!, { u: this.draw(), readBack: true, hold: false }),
      );
    }
    this.historyLength = history.length;
    await this.topUp();
    // Near the plan's end no later step closes the batch that holds this one.
    await this.plan.readBackNow(current.step);
    // About to wait: a step held for a shared command buffer goes to the GPU now, or the GPU could run
    // out of work while the host waits (then the next step's encoding, not the GPU, sets the pace).
    if (!current.settled) await this.plan.flushHeld();
    this.lastToken = (await current.result).token;
    return this.lastToken;
  }

  /** Submits steps until `count` (default `depth`) are ahead, or the plan is full. */
  private async topUp(count = this.depth): Promise<void> {
    // Tokens are read back in batches: a step reads back the batch when its position ends one.
    const every = readBackEvery(this.depth);
    while (this.ahead.length < count && this.plan.position < this.plan.capacity) {
      const position = this.plan.position;
      const u = this.draw();
      // A step is held for a shared command buffer only behind two others: the GPU has work meanwhile.
      const hold = this.ahead.length >= 2;
      const readBack = (position + 1) % every === 0 || position === this.aloneAt;
      this.ahead.push(tracked(position, u, await this.plan.submit(undefined, { u, readBack, hold })));
    }
  }

  dispose(): void {
    if (this.ownsPlan) this.plan.dispose();
  }
}

/** A decoder for `capacity` positions (prompt plus generated tokens). */
export async function createDecoder(
  model: Transformer,
  capacity: number,
  options: DecoderOptions,
  rng: Rng,
): Promise<TokenDecoder> {
  // Bad sampling options throw on either path (and before a plan is built).
  if (isSampling(options) || (options.repetitionPenalty ?? 1) !== 1)
    gpuSamplingParams(options, model.config.vocabSize);
  checkAhead(options.planAhead ?? defaultAhead);
  const reason = options.decodePath === 'eager' ? 'the eager path was asked for' : plannedPathReason(model);
  if (reason !== null) return new EagerDecoder(model, capacity, options, rng, reason);
  const weights = options.planWeights ?? 'auto';
  const planOptions = {
    weights,
    ...(options.planSharedBindings === undefined ? {} : { sharedBindings: options.planSharedBindings }),
    ...(options.planStepsPerSubmit === undefined ? {} : { stepsPerSubmit: options.planStepsPerSubmit }),
  };
  // A kept plan serves a request that asks for the same plan.
  const key = JSON.stringify(planOptions);
  const kept = options.keepPlan ? keptPlans.get(model) : undefined;
  if (kept && !kept.busy && kept.options === key && kept.plan.capacity >= capacity) {
    kept.busy = true;
    return leased(decoderForPlan(kept.plan, options, rng), kept);
  }
  let plan: DecodePlan;
  try {
    // A kept plan gets room to spare (whole 256-position blocks) so that the next request fits too.
    const room = options.keepPlan ? Math.ceil(capacity / 256) * 256 : capacity;
    plan = await DecodePlan.create(model, Math.min(room, model.config.maxPositionEmbeddings), planOptions);
  } catch (error) {
    // A device limit the plan's buffers or kernels exceed (binding size, workgroup memory): the
    // eager path may still fit, and says why it is used.
    const why = `the planned step could not be built here (${(error as Error).message})`;
    return new EagerDecoder(model, capacity, options, rng, why);
  }
  if (!options.keepPlan) return decoderForPlan(plan, options, rng, true);
  if (kept && !kept.busy) kept.plan.dispose(); // outgrown (or other options): replaced
  const entry = { plan, options: key, busy: true };
  if (!kept?.busy) keptPlans.set(model, entry);
  return leased(decoderForPlan(plan, options, rng), entry, kept?.busy ? plan : null);
}

/** Plans kept for their model's next generation (DecoderOptions.keepPlan), with their options as JSON. */
const keptPlans = new WeakMap<Transformer, { plan: DecodePlan; options: string; busy: boolean }>();

/** Frees the plan kept for `model` (if any and not in use). */
export function releaseKeptPlan(model: Transformer): void {
  const kept = keptPlans.get(model);
  if (kept && !kept.busy) {
    kept.plan.dispose();
    keptPlans.delete(model);
  }
}

/** The decoder of a kept plan: disposing it hands the plan back (or frees a plan that was not kept). */
function leased(
  decoder: TokenDecoder,
  entry: { busy: boolean },
  unkept: DecodePlan | null = null,
): TokenDecoder {
  return {
    path: decoder.path,
    reason: decoder.reason,
    get cachedPromptTokens() {
      return decoder.cachedPromptTokens;
    },
    next: (input, history) => decoder.next(input, history),
    dispose: () => {
      decoder.dispose();
      if (unkept) unkept.dispose();
      else entry.busy = false;
    },
  };
}

/**
 * A planned decoder over an existing plan (its prefill starts over, so one plan serves many runs);
 * `ownsPlan` makes the decoder's dispose free the plan.
 */
export function decoderForPlan(
  plan: DecodePlan,
  options: SamplingOptions & { planAhead?: number; keepPlan?: boolean },
  rng: Rng,
  ownsPlan = false,
): TokenDecoder {
  const greedy = !isSampling(options) && (options.repetitionPenalty ?? 1) === 1;
  const ahead = options.planAhead ?? defaultAhead;
  // A kept plan's cache may already hold the start of the prompt (the conversation so far).
  const reuse = options.keepPlan === true;
  if (greedy) return new PlannedDecoder(plan, ownsPlan, null, ahead, reuse);
  gpuSamplingParams(options, plan.model.config.vocabSize); // bad options throw here, before any work
  return new PlannedDecoder(plan, ownsPlan, { options, rng }, ahead, reuse);
}

/** Dispatches `run` encodes on the model's webgpu runtime (null on other backends). */
export async function countDispatches(
  model: Transformer,
  run: () => Promise<unknown>,
): Promise<number | null> {
  if (model.backend.name !== 'webgpu') return null;
  const runtime = (model.backend as WebGPUBackend).runtime;
  const original = runtime.dispatch;
  let count = 0;
  runtime.dispatch = function counted(this: typeof runtime, ...args: Parameters<typeof original>) {
    count++;
    return original.apply(this, args);
  };
  try {
    await run();
  } finally {
    Reflect.deleteProperty(runtime, 'dispatch'); // back to the prototype's method
  }
  return count;
}
