/**
 * The token source of the generation loop and the benchmark: the planned WebGPU decode step when
 * `plannedPathReason` allows it (webgpu, float32, a planned config) — greedy with the argmax on the GPU
 * and one step submitted ahead, or sampling on the host from the read-back logits — else the eager
 * forward over a KV cache with host-side sampling. The first `next` call prefills the prompt.
 */
import type { WeightFormat } from '../backend/webgpu/decode/half.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import type { KVCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import { slice } from '../ops/index.js';
import type { Rng } from '../tensor/random.js';
import { scope, scopeAsync } from '../tensor/tensor.js';
import { DecodePlan, type DecodeStepResult } from './decode-plan.js';
import { plannedPathReason } from './decode-support.js';
import { isSampling, type SamplingOptions, selectToken } from './sampling.js';

export type DecodePath = 'planned' | 'eager';

export interface TokenDecoder {
  readonly path: DecodePath;
  /** Why the eager path was taken (null on the planned path). */
  readonly reason: string | null;
  /** The next token after `input` (the prompt on the first call, then the previous token). */
  next(input: readonly number[], history: readonly number[]): Promise<number>;
  dispose(): void;
}

export interface DecoderOptions extends SamplingOptions {
  /** 'eager' forces the op-by-op path (default 'auto'). */
  decodePath?: 'auto' | 'eager';
  /** Matvec weight storage of the planned step (DecodePlanOptions.weights; default f32). */
  planWeights?: WeightFormat;
}

class EagerDecoder implements TokenDecoder {
  readonly path = 'eager' as const;
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
      const out = this.model.forward([input], { cache: this.cache });
      const last = scope(() => slice(out, 1, out.shape[1]! - 1, out.shape[1]!));
      return Float32Array.from(await last.data());
    });
    return selectToken(logits, history, this.options, this.rng);
  }

  dispose(): void {
    this.cache.dispose();
  }
}

/**
 * Sampling (or a repetition penalty) through the plan: each step reads back the logits row and the
 * host applies the logits processors and draws, as the eager path does; the dispatch savings remain,
 * the read-back is vocab·4 bytes instead of 4.
 */
class PlannedSamplingDecoder implements TokenDecoder {
  readonly path = 'planned' as const;
  readonly reason = null;
  private prefilled = false;

  constructor(
    readonly plan: DecodePlan,
    private readonly options: SamplingOptions,
    private readonly rng: Rng,
    private readonly ownsPlan: boolean,
  ) {}

  async next(input: readonly number[], history: readonly number[]): Promise<number> {
    let result: DecodeStepResult;
    if (!this.prefilled) {
      this.prefilled = true;
      result = await this.plan.prefill(input, { logits: true });
    } else {
      if (input.length !== 1)
        throw new Error('after the prompt, the planned decoder takes one token per step');
      result = await this.plan.step(input[0]!, { logits: true });
    }
    return selectToken(result.logits!, history, this.options, this.rng);
  }

  dispose(): void {
    if (this.ownsPlan) this.plan.dispose();
  }
}

/**
 * Greedy decoding through the plan, one step ahead: after submitting the step for token n it submits
 * the step for n + 1 (fed by n's argmax, already on the GPU) before reading n back, so the read-back
 * round trip overlaps GPU work. A step submitted ahead that turns out unwanted (generation stops, or
 * the caller feeds another token) is dropped by rewinding the plan.
 */
class PlannedDecoder implements TokenDecoder {
  readonly path = 'planned' as const;
  readonly reason = null;
  private prefilled = false;
  private ahead: { position: number; result: Promise<DecodeStepResult> } | null = null;
  private lastToken = -1;

  constructor(
    readonly plan: DecodePlan,
    private readonly ownsPlan: boolean,
  ) {}

  async next(input: readonly number[]): Promise<number> {
    if (!this.prefilled) {
      this.prefilled = true;
      this.lastToken = (await this.plan.prefill(input)).token;
      return this.lastToken;
    }
    if (input.length !== 1) throw new Error('after the prompt, the planned decoder takes one token per step');
    let current: Promise<DecodeStepResult>;
    if (this.ahead && input[0] === this.lastToken) {
      current = this.ahead.result;
    } else {
      if (this.ahead) this.plan.rewind(this.ahead.position);
      current = (await this.plan.submit(input[0]!)).result;
    }
    this.ahead = null;
    if (this.plan.position < this.plan.capacity) {
      const position = this.plan.position;
      this.ahead = { position, result: (await this.plan.submit()).result };
    }
    this.lastToken = (await current).token;
    return this.lastToken;
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
  const reason = options.decodePath === 'eager' ? 'the eager path was asked for' : plannedPathReason(model);
  if (reason !== null) return new EagerDecoder(model, capacity, options, rng, reason);
  const plan = await DecodePlan.create(model, Math.min(capacity, model.config.maxPositionEmbeddings), {
    weights: options.planWeights ?? 'f32',
  });
  return decoderForPlan(plan, options, rng, true);
}

/**
 * A planned decoder over an existing plan (its prefill starts over, so one plan serves many runs);
 * `ownsPlan` makes the decoder's dispose free the plan.
 */
export function decoderForPlan(
  plan: DecodePlan,
  options: SamplingOptions,
  rng: Rng,
  ownsPlan = false,
): TokenDecoder {
  const greedy = !isSampling(options) && (options.repetitionPenalty ?? 1) === 1;
  return greedy
    ? new PlannedDecoder(plan, ownsPlan)
    : new PlannedSamplingDecoder(plan, options, rng, ownsPlan);
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
