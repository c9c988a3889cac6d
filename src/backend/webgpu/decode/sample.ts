/// <reference types="@webgpu/types" />
/**
 * Sampling on the GPU for the planned decode step: from the LM head's logits [V] to the next token in
 * the step's token buffer, so a sampled step reads back 4 bytes like a greedy one. It picks exactly the
 * token `selectToken` (generate/sampling.ts) picks on the host for the same uniform draw u (up to float
 * rounding: f32 sums here, f64 there), in Hugging Face's order:
 *
 *   repetition penalty (ids in the presence bitmap or the step's input token: s > 0 ? s/p : s·p) →
 *   temperature → top-k (ties at the k-th value kept) → top-p (the low tail in (prob, index) order whose
 *   cumulative probability is ≤ 1 − p goes; the top token stays) → min-p (exp(s − max) < minP goes) →
 *   softmax → inverse CDF of u in vocabulary order (first id whose cumulative probability exceeds u;
 *   argmax when rounding leaves none).
 *
 * Three dispatches (two without top-k; greedy with a penalty: scores, then the argmax in `draw`):
 *   scores      [NB groups]  penalty and temperature → scores [V]; per block of B ids its max, first
 *                            argmax and Σexp(s − blockMax) → stats [NB]
 *   candidates  [NB groups]  (top-k only) LB = k-th largest block max (a lower bound of the k-th largest
 *                            score: k blocks reach it); each block compacts its ids with s ≥ LB, in id
 *                            order, into its own segment of candidates [NB·B] and its count
 *   draw        [1 group]    global max and Σexp from the stats; the candidates gathered into workgroup
 *                            memory (id order kept) when ≤ 1024 of them, else the whole scores row is the
 *                            item list; top-k threshold by radix select (4 × 8-bit histograms on the
 *                            order-preserving u32 key of the float); top-p boundary by bisection on the
 *                            key of the cumulative mass (32 reductions), ties at the boundary score split
 *                            by id with a bisection on the id; the draw by a scan of per-invocation
 *                            chunks in id order. Writes the token and sets the input token's presence bit.
 *
 * Per-step state: u is word 2 of the plan's 16-byte step uniform (f32); the options live in a 32-byte
 * uniform written by `configure`; the history is a presence bitmap [⌈V/32⌉] u32 the host writes once
 * (`writeHistory`, the prompt) and the draw pass extends with each step's input token — so after prefill
 * the bitmap plus the input token is exactly the host's `history`.
 *
 * Speed: the common case (top-k on, a few hundred candidates) does all selection in workgroup memory.
 * Top-p without top-k (or with more than 1024 candidates) runs its 32 bisection steps over the whole
 * row from one workgroup (~V/256 loads per invocation each): correct, but the slow case to improve.
 */
import type { SamplingOptions } from '../../../generate/sampling.js';
import { isSampling } from '../../../generate/sampling.js';
import {
  sampleBlock,
  sampleCandidateCap,
  sampleCandidatesShader,
  sampleDrawShader,
  sampleScoresShader,
} from './sample-shaders.js';

export { sampleBlock, sampleCandidateCap };

const STORAGE = 0x80;
const UNIFORM = 0x40;
const COPY_DST = 0x08;

export interface SamplerDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  groups: [number, number];
  bindings: number;
}

/** The options resolved as the host applies them (off = the value that makes a processor a no-op). */
export interface GpuSamplingParams {
  sample: boolean;
  temperature: number;
  /** 0: off (also when ≥ vocab, as applyTopK). */
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
}

/** Checks sampling options and resolves them for the GPU sampler; throws naming the bad option. */
export function gpuSamplingParams(options: SamplingOptions, vocab: number): GpuSamplingParams {
  const sample = isSampling(options);
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const minP = options.minP ?? 0;
  const penalty = options.repetitionPenalty ?? 1;
  if (sample && !(Number.isFinite(temperature) && temperature > 0))
    throw new Error(`temperature must be a finite number > 0 when sampling, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0)
    throw new Error(`topK must be a non-negative integer (0: off), got ${topK}`);
  if (!(topP >= 0 && topP <= 1)) throw new Error(`topP must be in [0, 1] (1: off), got ${topP}`);
  if (!(minP >= 0 && minP <= 1)) throw new Error(`minP must be in [0, 1] (0: off), got ${minP}`);
  if (!(Number.isFinite(penalty) && penalty > 0))
    throw new Error(`repetitionPenalty must be a finite number > 0 (1: off), got ${penalty}`);
  return {
    sample,
    temperature,
    topK: topK > 0 && topK < vocab ? topK : 0,
    topP,
    minP,
    repetitionPenalty: penalty,
  };
}

/** u as the draw pass reads it: an f32 strictly below 1 (rounding up to 1 would draw nothing). */
export function drawWord(u: number): number {
  const f = new Float32Array([Math.min(u, 1 - 2 ** -24)]);
  return new Uint32Array(f.buffer)[0]!;
}

/**
 * The sampler's buffers and dispatches for one vocabulary, reading `logits` [V] f32 and the input
 * token at `tokens[0]`, writing the chosen token there; `step` is the 16-byte step uniform (u at word 2).
 */
export class GpuSampler {
  readonly blocks: number;
  /** u32 [⌈V/32⌉]: ids of the history (the repetition penalty's set). */
  readonly presence: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly paramBytes = new ArrayBuffer(32);
  private readonly scoresPass: SamplerDispatch;
  private readonly candidatesPass: SamplerDispatch;
  private readonly drawPass: SamplerDispatch;
  /** The dispatches of a sampled step for the configured options, in order. */
  dispatches: readonly SamplerDispatch[] = [];
  options: GpuSamplingParams | null = null;

  constructor(
    private readonly device: GPUDevice,
    pipeline: (code: string) => GPUComputePipeline,
    readonly vocab: number,
    io: { logits: GPUBuffer; tokens: GPUBuffer; step: GPUBuffer },
    createBuffer: (bytes: number, usage: number) => GPUBuffer,
  ) {
    const block = sampleBlock(vocab);
    this.blocks = Math.ceil(vocab / block);
    this.params = createBuffer(32, UNIFORM | COPY_DST);
    this.presence = createBuffer(4 * Math.ceil(vocab / 32), STORAGE | COPY_DST);
    const scores = createBuffer(4 * vocab, STORAGE); // [V]
    const stats = createBuffer(16 * this.blocks, STORAGE); // [NB] (max, argmax, Σexp, 0)
    const candidates = createBuffer(8 * this.blocks * block, STORAGE); // [NB·B] (score bits, id)
    const counts = createBuffer(4 * this.blocks, STORAGE); // [NB]
    const record = (
      label: string,
      code: string,
      resources: [number, GPUBuffer][],
      groups: number,
    ): SamplerDispatch => {
      const p = pipeline(code);
      const bindGroup = device.createBindGroup({
        layout: p.getBindGroupLayout(0),
        entries: resources.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
      });
      return { label, pipeline: p, bindGroup, groups: [groups, 1], bindings: resources.length };
    };
    this.scoresPass = record(
      'sample scores',
      sampleScoresShader(vocab),
      [
        [1, this.params],
        [2, io.logits],
        [3, io.tokens],
        [4, this.presence],
        [5, scores],
        [6, stats],
      ],
      this.blocks,
    );
    this.candidatesPass = record(
      'sample candidates',
      sampleCandidatesShader(vocab),
      [
        [1, this.params],
        [2, scores],
        [3, stats],
        [4, candidates],
        [5, counts],
      ],
      this.blocks,
    );
    this.drawPass = record(
      'sample draw',
      sampleDrawShader(vocab),
      [
        [0, io.step],
        [1, this.params],
        [2, io.tokens],
        [3, this.presence],
        [4, scores],
        [5, stats],
        [6, candidates],
        [7, counts],
      ],
      1,
    );
  }

  /** Validates the options (throws naming the bad one), writes them and selects the dispatches. */
  configure(options: SamplingOptions): GpuSamplingParams {
    const p = gpuSamplingParams(options, this.vocab);
    const f = new Float32Array(this.paramBytes);
    const u = new Uint32Array(this.paramBytes);
    f[0] = p.temperature;
    f[1] = p.repetitionPenalty;
    f[2] = p.topP < 1 ? 1 - p.topP : -1; // the tail mass top-p removes; < 0: off
    f[3] = p.minP;
    u[4] = p.topK;
    u[5] = (p.sample ? 1 : 0) | (p.repetitionPenalty !== 1 ? 2 : 0);
    this.device.queue.writeBuffer(this.params, 0, this.paramBytes);
    this.options = p;
    this.dispatches = !p.sample
      ? [this.scoresPass, this.drawPass]
      : p.topK > 0
        ? [this.scoresPass, this.candidatesPass, this.drawPass]
        : [this.scoresPass, this.drawPass];
    return p;
  }

  /** Sets the presence bitmap to the distinct ids of `history` (ids outside the vocabulary are skipped). */
  writeHistory(history: Iterable<number>): void {
    const bits = new Uint32Array(Math.ceil(this.vocab / 32));
    for (const id of history) if (id >= 0 && id < this.vocab) bits[id >>> 5]! |= 1 << (id & 31);
    this.device.queue.writeBuffer(this.presence, 0, bits);
  }
}
