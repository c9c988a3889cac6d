/**
 * Logits processors and sampling in Hugging Face's order: repetition penalty (also in greedy mode),
 * then, when sampling, temperature → top-k → top-p → min-p, softmax and a seeded multinomial draw.
 */
import type { Rng } from '../tensor/random.js';

export interface SamplingOptions {
  /** Sample (true) or take the argmax (false). Default: sample when temperature > 0. */
  doSample?: boolean;
  temperature?: number;
  /** Keep the k highest scores (0: off). */
  topK?: number;
  /** Keep the smallest set whose probability mass reaches p (1: off). */
  topP?: number;
  /** Drop tokens whose probability is below minP · max probability (0: off). */
  minP?: number;
  /** CTRL repetition penalty over prompt and generated ids (1: off). */
  repetitionPenalty?: number;
}

/** Divides positive (multiplies negative) scores of every id already present, once per id. */
export function applyRepetitionPenalty(
  scores: Float32Array,
  history: Iterable<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  for (const id of new Set(history)) {
    if (id < 0 || id >= scores.length) continue;
    const s = scores[id]!;
    scores[id] = s < 0 ? s * penalty : s / penalty;
  }
}

export function applyTemperature(scores: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < scores.length; i++) scores[i]! /= temperature;
}

/** Sets scores below the k-th largest to −∞ (ties at the threshold are kept). */
export function applyTopK(scores: Float32Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const sorted = Float32Array.from(scores).sort();
  const threshold = sorted[scores.length - k]!;
  for (let i = 0; i < scores.length; i++) if (scores[i]! < threshold) scores[i] = -Infinity;
}

function softmaxOf(scores: Float32Array): Float64Array {
  let max = -Infinity;
  for (const s of scores) max = Math.max(max, s);
  const probs = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    probs[i] = Math.exp(scores[i]! - max);
    sum += probs[i]!;
  }
  for (let i = 0; i < probs.length; i++) probs[i]! /= sum;
  return probs;
}

/** Removes the low tail whose cumulative probability (ascending) is ≤ 1 − p; always keeps the top token. */
export function applyTopP(scores: Float32Array, p: number): void {
  if (p >= 1) return;
  const probs = softmaxOf(scores);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => probs[a]! - probs[b]! || a - b,
  );
  let cumulative = 0;
  for (let r = 0; r < order.length - 1; r++) {
    cumulative += probs[order[r]!]!;
    if (cumulative <= 1 - p) scores[order[r]!] = -Infinity;
    else break;
  }
}

export function applyMinP(scores: Float32Array, minP: number): void {
  if (minP <= 0) return;
  const probs = softmaxOf(scores);
  let top = 0;
  for (const q of probs) top = Math.max(top, q);
  for (let i = 0; i < scores.length; i++) if (probs[i]! < minP * top) scores[i] = -Infinity;
}

export function argmaxOf(scores: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}

/** Whether these options sample (as opposed to greedy decoding). */
export function isSampling(options: SamplingOptions): boolean {
  return options.doSample ?? (options.temperature ?? 0) > 0;
}

/**
 * Picks the next token from one row of logits (modified in place). `history` holds the prompt and
 * the tokens generated so far.
 */
export function selectToken(
  logits: Float32Array,
  history: readonly number[],
  options: SamplingOptions,
  rng: Rng,
): number {
  applyRepetitionPenalty(logits, history, options.repetitionPenalty ?? 1);
  if (!isSampling(options)) return argmaxOf(logits);
  applyTemperature(logits, options.temperature ?? 1);
  applyTopK(logits, options.topK ?? 0);
  applyTopP(logits, options.topP ?? 1);
  applyMinP(logits, options.minP ?? 0);
  const probs = softmaxOf(logits);
  let u = rng.uniform();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return argmaxOf(logits);
}
