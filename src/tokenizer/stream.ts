/**
 * Incremental detokenization for streaming generation.
 *
 * Decoding one token at a time is wrong in two ways: a multi-byte character split across byte-level
 * tokens decodes to U+FFFD until its last byte arrives, and decoders that strip a leading space
 * (SentencePiece-style) would drop spaces at token starts. So, as text-generation-inference does, we
 * decode a short window of recent ids (from `prefixOffset`) and emit only the text beyond what the
 * window without the newest ids gave, holding text back while it ends in U+FFFD.
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.js';

export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly options: DecodeOptions = {},
  ) {}

  /** Adds generated ids; returns the text they complete (possibly '' while a character is unfinished). */
  push(...ids: number[]): string {
    this.ids.push(...ids);
    const prefixText = this.tokenizer.decode(
      this.ids.slice(this.prefixOffset, this.readOffset),
      this.options,
    );
    const text = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    if (text.length > prefixText.length && !text.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return text.slice(prefixText.length);
    }
    return '';
  }

  /** The text still held back (an unfinished character decodes to U+FFFD, as decode() gives it). */
  flush(): string {
    const prefixText = this.tokenizer.decode(
      this.ids.slice(this.prefixOffset, this.readOffset),
      this.options,
    );
    const text = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    this.prefixOffset = this.readOffset = this.ids.length;
    return text.slice(prefixText.length);
  }
}
