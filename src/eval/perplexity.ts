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
  /** Windows per forward pass. Default 8. */
  batchSize?: number;
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

interface Window {
  begin: number;
  end: number;
  /** First target index this window scores (earlier ones were scored by an earlier window). */
  scoredFrom: number;
}

/** The windows over ids[0..n): [begin, begin + context) every `stride`, each scoring only new targets. */
export function planWindows(n: number, context: number, stride: number): Window[] {
  const windows: Window[] = [];
  let scoredEnd = 1; // ids[0..scoredEnd) are scored already (ids[0] never is)
  // A window must start before its first scored target (that target needs one id of context), so with
  // stride = context the windows overlap by one.
  for (let begin = 0; scoredEnd < n; begin = Math.min(begin + stride, scoredEnd - 1)) {
    const end = Math.min(begin + context, n);
    if (end <= scoredEnd) continue;
    windows.push({ begin, end, scoredFrom: scoredEnd });
    scoredEnd = end;
  }
  return windows;
}

/**
 * Total NLL of ids[1..] given the ids before them, in windows of `context` advanced by `stride`; ids[0]
 * is context only. Windows of equal length run `batchSize` at a time. Returns the NLL, the tokens
 * scored and the number of windows.
 */
export async function slidingWindowNll(
  model: Transformer,
  ids: readonly number[],
  context: number,
  stride: number,
  batchSize = 8,
): Promise<{ nll: number; tokens: number; windows: number }> {
  if (!(Number.isInteger(context) && context >= 2))
    throw new Error(`context length must be ≥ 2, got ${context}`);
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= context))
    throw new Error(`stride must be an integer in [1, context = ${context}], got ${stride}`);
  const windows = planWindows(ids.length, context, stride);
  let nll = 0;
  for (let i = 0; i < windows.length; ) {
    const length = windows[i]!.end - windows[i]!.begin;
    const group: Window[] = [];
    while (i < windows.length && group.length < batchSize && windows[i]!.end - windows[i]!.begin === length) {
      group.push(windows[i++]!);
    }
    const inputs = new Int32Array(group.length * length);
    const targets = new Int32Array(group.length * length);
    group.forEach(({ begin, end, scoredFrom }, row) => {
      for (let p = 0; p < length; p++) {
        // Position p predicts ids[begin + p + 1]; only targets from scoredFrom on count.
        const target = begin + p + 1;
        inputs[row * length + p] = ids[begin + p]!;
        targets[row * length + p] = target >= scoredFrom && target < end ? ids[target]! : -100;
      }
    });
    const loss = noGrad(() =>
      scope(() => {
        const shape = [group.length, length];
        const logits = model.forward(tensor(inputs, shape, { backend: model.backend })); // [B, T, vocab]
        const t = tensor(targets, shape, { backend: model.backend });
        return crossEntropy(logits, t, { ignoreIndex: -100, reduction: 'sum' });
      }),
    );
    nll += await loss.item();
    loss.dispose();
  }
  return { nll, tokens: ids.length - 1, windows: windows.length };
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
  const { nll, tokens, windows } = await slidingWindowNll(model, ids, context, stride, options.batchSize);
  return { ...perplexities(nll, tokens, words), nll, tokens, words, windows };
}
