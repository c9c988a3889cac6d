/**
 * Streamed text of generated ids, token by token, in constant time per token. Decoding the whole
 * generated sequence at every token (what the stream is equal to) costs O(n) a token: 0.8 ms at 2,000
 * tokens with the bundled tokenizer, more than an H200's whole decode step for a 135M model. So each
 * token decodes a short window instead, from a few ids before the last emitted text, and emits what
 * the window's decoding adds to that context:
 *
 * - a window that does not start with its context's decoding (a decoder that rewrites across the
 *   boundary, e.g. cleanup of spaces before punctuation) falls back to decoding everything once;
 * - an incomplete multi-byte character at the end (U+FFFD) is held back until it completes;
 * - stop strings are searched in the new text plus the emitted text's last `longest stop − 1`
 *   characters, which covers every match the whole text could newly contain; the first of the list
 *   that occurs ends the text where it begins.
 */
/** The part of a tokenizer generation needs (decoding for streamed text and stop strings). */
export interface TextDecoder {
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

/** Ids of context decoded before the new ones (enough for decoders that look one token back). */
const contextIds = 4;

export interface TextStep {
  /** Newly completed text ('' while a multi-byte character is incomplete). */
  text: string;
  /** A stop string was found: `text` ends where it begins. */
  stopped: boolean;
}

export class TextStream {
  private readonly ids: number[] = [];
  /** Every character emitted so far. */
  private emitted = '';
  /** ids[0, read) are emitted; the window decodes from `start` (read − context) on. */
  private read = 0;
  private readonly longestStop: number;

  constructor(
    private readonly tokenizer: TextDecoder,
    private readonly stops: readonly string[] = [],
  ) {
    this.longestStop = Math.max(0, ...stops.map((s) => s.length));
  }

  private decode(from: number, to = this.ids.length): string {
    return this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: true });
  }

  /** Adds the next generated id; what it completes. */
  push(id: number): TextStep {
    this.ids.push(id);
    const start = Math.max(0, this.read - contextIds);
    const context = this.decode(start, this.read);
    const window = this.decode(start);
    if (window.endsWith('\uFFFD')) return { text: '', stopped: false };
    const text = window.startsWith(context)
      ? window.slice(context.length)
      : this.decode(0).slice(this.emitted.length);
    this.read = this.ids.length;
    if (this.longestStop > 0) {
      const tail = this.emitted.slice(Math.max(0, this.emitted.length - (this.longestStop - 1)));
      const searched = tail + text;
      // The first stop string of the list that occurs (as the whole text would be searched).
      for (const stop of this.stops) {
        const at = searched.indexOf(stop);
        if (at < 0) continue;
        const kept = text.slice(0, Math.max(0, at - tail.length));
        this.emitted += kept;
        return { text: kept, stopped: true };
      }
    }
    this.emitted += text;
    return { text, stopped: false };
  }
}
