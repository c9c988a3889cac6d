/**
 * Byte-level BPE training (Sennrich et al. 2016; GPT-2's byte-level variant).
 *
 * 1. Split the corpus on special tokens, pre-tokenize each chunk with GPT-2's pattern and count the
 *    distinct words.
 * 2. Every word starts as its UTF-8 bytes; the base vocabulary is the special tokens then all 256 bytes,
 *    so any text can be encoded.
 * 3. Repeatedly merge the most frequent adjacent pair (weighted by word counts). Ties go to the pair
 *    with the smallest (left id, right id), which makes training deterministic.
 *
 * Pair counts are kept up to date incrementally: a merge only revisits the words that contain the
 * merged pair (an index from pair to words), and a max-heap with lazy invalidation finds the next pair.
 * The output is written as a Hugging Face `tokenizer.json` by `bpe-files.ts`.
 */
import { BYTE_TO_UNICODE, GPT2_PRETOKENIZE_PATTERN } from './byte-level.js';

export interface BpeTrainerOptions {
  /** Final vocabulary size, special tokens and the 256 byte tokens included. */
  vocabSize: number;
  /** Tokens that are never split or merged, given the first ids. Default ['<|endoftext|>']. */
  specialTokens?: string[];
  /** Stop early when the best pair occurs fewer times than this. Default 2. */
  minFrequency?: number;
}

export interface TrainedBpe {
  /** Token string (byte-level characters, or a special token) → id; ids are 0..size-1. */
  vocab: Map<string, number>;
  /** Merges in rank order, as pairs of token strings. */
  merges: Array<[string, string]>;
  /** Special tokens with their ids (0..specialTokens.length-1). */
  specialTokens: Array<{ content: string; id: number }>;
}

/** Pair key: left id in the high bits, right id in the low 21 bits (vocabularies up to 2^21). */
const PAIR_SHIFT = 2 ** 21;
const pairKey = (left: number, right: number) => left * PAIR_SHIFT + right;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Counts pre-tokenized words over the corpus, never looking inside special tokens. */
export function countWords(texts: Iterable<string>, specialTokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const specialSplit =
    specialTokens.length > 0
      ? new RegExp(
          [...specialTokens]
            .sort((a, b) => b.length - a.length)
            .map(escapeRegExp)
            .join('|'),
        )
      : null;
  for (const text of texts) {
    const chunks = specialSplit ? text.split(specialSplit) : [text];
    for (const chunk of chunks) {
      for (const match of chunk.matchAll(GPT2_PRETOKENIZE_PATTERN)) {
        const word = match[0];
        counts.set(word, (counts.get(word) ?? 0) + 1);
      }
    }
  }
  return counts;
}

/** Max-heap of (count, pair) ordered by count, then by the smaller pair key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the top entry and returns it as [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      const n = this.counts.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.before(l, best)) best = l;
        if (r < n && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/** Trains a byte-level BPE vocabulary on `texts` (any iterable of documents or lines). */
export function trainBpe(texts: Iterable<string>, options: BpeTrainerOptions): TrainedBpe {
  const specials = options.specialTokens ?? ['<|endoftext|>'];
  const minFrequency = options.minFrequency ?? 2;
  if (new Set(specials).size !== specials.length)
    throw new Error('trainBpe: specialTokens contains duplicates');
  const baseSize = specials.length + 256;
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < baseSize) {
    throw new Error(
      `trainBpe: vocabSize must be an integer ≥ ${baseSize} (${specials.length} special tokens + 256 bytes), got ${options.vocabSize}`,
    );
  }
  if (options.vocabSize > PAIR_SHIFT) throw new Error(`trainBpe: vocabSize must be ≤ ${PAIR_SHIFT}`);

  const tokens: string[] = [...specials, ...BYTE_TO_UNICODE];
  const tokenIds = new Map(tokens.map((t, id) => [t, id]));
  const utf8 = new TextEncoder();
  const wordCounts = countWords(texts, specials);
  const words: number[][] = []; // word index → symbol ids
  const freqs: number[] = [];
  for (const [word, count] of wordCounts) {
    words.push(Array.from(utf8.encode(word), (b) => specials.length + b));
    freqs.push(count);
  }

  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>(); // pair → words that may contain it
  const addPair = (key: number, delta: number, wordIndex: number) => {
    const count = (pairCounts.get(key) ?? 0) + delta;
    if (count === 0) pairCounts.delete(key);
    else pairCounts.set(key, count);
    if (delta > 0) {
      let set = pairWords.get(key);
      if (!set) {
        set = new Set();
        pairWords.set(key, set);
      }
      set.add(wordIndex);
    }
  };
  words.forEach((symbols, w) => {
    for (let i = 0; i + 1 < symbols.length; i++) addPair(pairKey(symbols[i]!, symbols[i + 1]!), freqs[w]!, w);
  });
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const merges: Array<[string, string]> = [];
  while (tokens.length < options.vocabSize && heap.size > 0) {
    const [count, key] = heap.pop();
    const current = pairCounts.get(key) ?? 0;
    if (current !== count) {
      // Stale entry: the pair lost occurrences since it was pushed; requeue with its true count.
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (count < minFrequency) break;
    const left = Math.floor(key / PAIR_SHIFT);
    const right = key % PAIR_SHIFT;
    // Two different merge paths can spell the same string ('ab'+'c', 'a'+'bc'): they share one id.
    const mergedText = tokens[left]! + tokens[right]!;
    let merged = tokenIds.get(mergedText);
    if (merged === undefined) {
      merged = tokens.length;
      tokens.push(mergedText);
      tokenIds.set(mergedText, merged);
    }
    merges.push([tokens[left]!, tokens[right]!]);

    const touched = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      const old = words[w]!;
      const next: number[] = [];
      for (let i = 0; i < old.length; i++) {
        if (old[i] === left && old[i + 1] === right) {
          next.push(merged);
          i++;
        } else next.push(old[i]!);
      }
      if (next.length === old.length) continue; // the index is a superset; this word lost the pair
      const freq = freqs[w]!;
      // Replace the word's pairs: net zero for untouched pairs, new pairs all involve `merged`.
      for (let i = 0; i + 1 < old.length; i++) addPair(pairKey(old[i]!, old[i + 1]!), -freq, w);
      for (let i = 0; i + 1 < next.length; i++) {
        const k = pairKey(next[i]!, next[i + 1]!);
        addPair(k, freq, w);
        if (next[i] === merged || next[i + 1] === merged) touched.add(k);
      }
      words[w] = next;
    }
    pairWords.delete(key);
    pairCounts.delete(key);
    for (const k of touched) {
      const c = pairCounts.get(k);
      if (c !== undefined) heap.push(c, k);
    }
  }

  return {
    vocab: tokenIds,
    merges,
    specialTokens: specials.map((content, id) => ({ content, id })),
  };
}
