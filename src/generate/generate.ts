/**
 * The generation loop: prefill the prompt into a KV cache, then one token per step, streamed as an
 * async iterator of {id, text}. Stops at max tokens, an EOS id or a stop string.
 */
import type { Transformer } from '../model/transformer.js';
import { Rng } from '../tensor/random.js';
import { createDecoder, type DecoderOptions } from './decoder.js';
import { type TextDecoder, TextStream } from './text-stream.js';

export type { TextDecoder } from './text-stream.js';

export interface GenerateOptions extends DecoderOptions {
  maxNewTokens: number;
  eosTokenIds?: readonly number[];
  stopStrings?: readonly string[];
  seed?: number;
  /** Needed for `text` in the yielded steps and for stop strings. */
  tokenizer?: TextDecoder;
  /** Stops early when it becomes true (e.g. Ctrl-C). */
  signal?: AbortSignal;
}

export interface GeneratedToken {
  id: number;
  /** Newly completed text (may be empty while a multi-byte character is incomplete). */
  text: string;
  /** Why generation ended, on the last step only. */
  finishReason?: 'length' | 'eos' | 'stop' | 'aborted';
  /**
   * On the first step only: prompt tokens found in a kept decode plan's cache (`keepPlan`), which the
   * prefill did not run again (0 when none were).
   */
  cachedPromptTokens?: number;
}

export class PromptError extends Error {}

/** Checks a prompt against the model's context before any compute. */
export function checkPrompt(model: Transformer, promptIds: readonly number[], maxNewTokens: number): void {
  if (promptIds.length === 0) throw new PromptError('the prompt is empty: give at least one token');
  const vocab = model.config.vocabSize;
  const bad = promptIds.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
  if (bad !== undefined)
    throw new PromptError(`prompt token id ${bad} is outside the vocabulary [0, ${vocab})`);
  const context = model.config.maxPositionEmbeddings;
  if (promptIds.length > context) {
    throw new PromptError(
      `the prompt has ${promptIds.length} tokens but the model's context is ${context}; shorten it (or pass --truncate to keep the last ${context - maxNewTokens} tokens)`,
    );
  }
}

/**
 * Streams generated tokens. The KV cache (or, on webgpu for planned configs, greedy or sampled, the
 * planned decode step: decoder.ts) is created here and freed when the loop ends.
 */
export async function* generate(
  model: Transformer,
  promptIds: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<GeneratedToken> {
  checkPrompt(model, promptIds, options.maxNewTokens);
  const context = model.config.maxPositionEmbeddings;
  const maxNew = Math.min(options.maxNewTokens, context - promptIds.length);
  const eos = new Set(options.eosTokenIds ?? []);
  const rng = new Rng(options.seed ?? 0);
  const history = [...promptIds];
  const stream = options.tokenizer ? new TextStream(options.tokenizer, options.stopStrings ?? []) : null;
  const decoder = await createDecoder(model, promptIds.length + Math.max(maxNew, 1), options, rng);
  try {
    let input: number[] = [...promptIds];
    for (let step = 0; step < maxNew; step++) {
      const id = await decoder.next(input, history);
      history.push(id);
      input = [id];
      let finishReason: GeneratedToken['finishReason'];
      const completed = stream?.push(id);
      const text = completed?.text ?? '';
      if (completed?.stopped) finishReason = 'stop';
      if (!finishReason && eos.has(id)) finishReason = 'eos';
      if (!finishReason && options.signal?.aborted) finishReason = 'aborted';
      if (!finishReason && step === maxNew - 1) finishReason = 'length';
      const cached = step === 0 ? { cachedPromptTokens: decoder.cachedPromptTokens } : {};
      yield finishReason ? { id, text, finishReason, ...cached } : { id, text, ...cached };
      if (finishReason) return;
    }
  } finally {
    decoder.dispose();
  }
}

/** Runs `generate` to the end and returns the new ids and their text. */
export async function generateAll(
  model: Transformer,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<{ ids: number[]; text: string; finishReason: GeneratedToken['finishReason'] }> {
  const ids: number[] = [];
  let text = '';
  let finishReason: GeneratedToken['finishReason'];
  for await (const step of generate(model, promptIds, options)) {
    ids.push(step.id);
    text += step.text;
    finishReason = step.finishReason;
  }
  return { ids, text, finishReason };
}
