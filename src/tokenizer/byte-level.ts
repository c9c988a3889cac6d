/**
 * GPT-2 byte-level conventions shared by the BPE trainer and tokenizer.json writers.
 *
 * Every byte 0..255 is mapped to a printable Unicode character so that BPE works on strings without
 * whitespace or control characters (Radford et al. 2019, `bytes_to_unicode` in openai/gpt-2 encoder.py;
 * the Hugging Face `ByteLevel` pre-tokenizer and decoder use the same table).
 */

function buildByteToUnicode(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  // Printable bytes map to themselves; the rest take code points 256, 257, … in byte order.
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable(b) ? b : next++);
  return table;
}

/** BYTE_TO_UNICODE[b] is the character standing for byte b (e.g. space 0x20 → 'Ġ'). */
export const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();

/** The inverse of BYTE_TO_UNICODE. */
export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

/**
 * GPT-2's pre-tokenizer pattern (the `ByteLevel` pre-tokenizer with `use_regex: true`): contractions,
 * letter runs, digit runs and punctuation runs each with an optional leading space, then whitespace
 * runs where the last space stays attached to the following word.
 */
export const GPT2_PRETOKENIZE_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const utf8 = new TextEncoder();

/** The byte-level string of a piece of text: its UTF-8 bytes, each as its BYTE_TO_UNICODE character. */
export function toByteLevel(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_TO_UNICODE[b];
  return out;
}

/** Decodes a byte-level string back to text (invalid UTF-8 becomes U+FFFD, as the HF decoder does). */
export function fromByteLevel(symbols: string): string {
  const bytes: number[] = [];
  for (const ch of symbols) {
    const b = UNICODE_TO_BYTE.get(ch);
    if (b === undefined) throw new Error(`'${ch}' is not a byte-level symbol`);
    bytes.push(b);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
