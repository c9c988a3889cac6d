/**
 * Perplexity of a text under a model, token-level and word-level.
 *
 * The text is tokenised once (after a start token: the tokenizer's BOS, else its EOS, the document
 * separator the model was trained with, so the first text token is scored too). Windows of the model's
 * context slide over the ids with a stride (Hugging Face's "perplexity of fixed-length models"): each
 * window scores only the tokens not scored by an earlier window, so every token counts exactly once and
 * all but the first window's tokens see at least `context − stride` tokens of history.
 *
 *   tokenPerplexity = exp(total NLL / scored tokens)
 *   wordPerplexity  = exp(total NLL / whitespace-separated words)
 *
 * Word perplexity divides the same total by a count that does not depend on the tokenizer, so models
 * with different vocabularies can be compared (the Brown-corpus numbers of Bengio et al. 2003 are per
 * word).
 */
import type { Transformer } from '../model/transformer.js';
import { crossEntropy, noGrad, tensor } from '../ops/index.js';
import { scope } from '../tensor/tensor.js';

export interface PerplexityTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
}

export interface PerplexityOptions {
  /** Window length; default (and at most, for learned positions) the model's maxPositionEmbeddings. */
  contextLength?: number;
  /** Tokens advanced per window; default contextLength / 2. */
  stride?: number;
}

export interface PerplexityResult {
  tokenPerplexity: number;
  wordPerplexity: number;
  /** Total negative log-likelihood in nats. */
  nll: number;
  tokens: number;
  words: number;
  windows: number;
}

/** Whitespace-separated words of a text. */
export function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => w.length > 0).length;
}

/** The perplexities from a total NLL over `tokens` tokens of a text of `words` words. */
export function perplexities(nll: number, tokens: number, words: number) {
  return { tokenPerplexity: Math.exp(nll / tokens), wordPerplexity: Math.exp(nll / words) };
}

/**
 * Total NLL of ids[1..] given the ids before them, in windows of `context` advanced by `stride`; ids[0]
 * is context only. Returns the NLL, the tokens scored and the number of windows.
 */
export async function slidingWindowNll(
  model: Transformer,
  ids: readonly number[],
  context: number,
  stride: number,
): Promise<{ nll: number; tokens: number; windows: number }> {
  if (!(Number.isInteger(context) && context >= 2))
    throw new Error(`context length must be ≥ 2, got ${context}`);
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= context))
    throw new Error(`stride must be an integer in [1, context = ${context}], got ${stride}`);
  let nll = 0;
  let tokens = 0;
  let windows = 0;
  let scoredEnd = 1; // ids[0..scoredEnd) are scored already (ids[0] never is)
  for (let begin = 0; scoredEnd < ids.length; begin += stride) {
    const end = Math.min(begin + context, ids.length);
    if (end <= scoredEnd) continue;
    const window = ids.slice(begin, end);
    // Position p of the window predicts ids[begin + p + 1]; score only targets at or after scoredEnd.
    const targets = Int32Array.from({ length: window.length }, (_, p) => {
      const target = begin + p + 1;
      return target >= scoredEnd && target < end ? ids[target]! : -100;
    });
    const loss = noGrad(() =>
      scope(() => {
        const logits = model.forward([window]); // [1, T, vocab]
        const t = tensor(targets, [1, window.length], { backend: model.backend });
        return crossEntropy(logits, t, { ignoreIndex: -100, reduction: 'sum' });
      }),
    );
    nll += await loss.item();
    loss.dispose();
    tokens += end - scoredEnd;
    scoredEnd = end;
    windows++;
  }
  return { nll, tokens, windows };
}

/** Token- and word-level perplexity of `text`. */
export async function perplexity(
  model: Transformer,
  tokenizer: PerplexityTokenizer,
  text: string,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const words = countWords(text);
  if (words === 0) throw new Error('the evaluation text is empty');
  const maxContext = model.config.maxPositionEmbeddings;
  const context = Math.min(options.contextLength ?? maxContext, maxContext);
  const stride = options.stride ?? Math.max(1, Math.floor(context / 2));
  const start = tokenizer.bosTokenId ?? tokenizer.eosTokenIds[0] ?? null;
  const textIds = tokenizer.encode(text, { addSpecialTokens: false });
  const ids = start === null ? textIds : [start, ...textIds];
  if (ids.length < 2) throw new Error('the evaluation text is too short: it needs at least one scored token');
  const { nll, tokens, windows } = await slidingWindowNll(model, ids, context, stride);
  return { ...perplexities(nll, tokens, words), nll, tokens, words, windows };
}
