/**
 * A decode plan's prefill around its cache: which ids the cached positions hold (a prompt that starts
 * with them runs only the rest) and the padding of the rest to bucket lengths.
 */
import type { KVCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The token ids of a decode plan's cached positions, as far as the host knows them, so that a prompt
 * that starts with them (the next chat turn, a server request with the same system prompt) prefills
 * only the rest. The prompt's ids are known at once; a step fed from the GPU learns its input when the
 * step before it reads its token back.
 */
export class CachedIds {
  /** Input id at each position (undefined: fed from the GPU, not read back yet). */
  private ids: (number | undefined)[] = [];
  /** The serial of the step whose token fed each position (0: the host's or the prompt's). */
  private fedBy: number[] = [];

  /** A prompt fills positions from `start` (the ones before it kept). */
  prompt(ids: readonly number[], start = 0): void {
    this.truncate(start);
    for (let p = start; p < ids.length; p++) {
      this.ids[p] = ids[p];
      this.fedBy[p] = 0;
    }
  }

  /**
   * The step at `position` was fed `token` (known: the host's, or a read-back one), or else the token
   * of step `serial` on the GPU.
   */
  fed(position: number, token: number | undefined, serial: number): void {
    this.truncate(position);
    this.ids[position] = token;
    this.fedBy[position] = token === undefined ? serial : 0;
  }

  /** Step `serial` at `position` produced `token`: the input of position + 1 if that step consumed it. */
  produced(position: number, serial: number, token: number): void {
    if (this.fedBy[position + 1] === serial) {
      this.ids[position + 1] = token;
      this.fedBy[position + 1] = 0;
    }
  }

  /** Forgets positions from `length` on. */
  truncate(length: number): void {
    if (this.ids.length > length) {
      this.ids.length = length;
      this.fedBy.length = length;
    }
  }

  /**
   * How many of `prompt`'s first ids the cache holds, among its first `cached` positions; at most
   * prompt.length − 1, so that the last id still runs through the model (its logits give the token).
   */
  commonPrefix(prompt: readonly number[], cached: number): number {
    const limit = Math.min(prompt.length - 1, cached, this.ids.length);
    let n = 0;
    while (n < limit && this.ids[n] === prompt[n]) n++;
    return n;
  }
}

/**
 * The length a prefill of `tokens` new ids is padded to: 16, then four steps a power of two (at most
 * 25% padding), so that prompts of nearby lengths bind the same pooled buffers and the runtime's kept
 * bind groups serve them (a chat's turns, a server's requests).
 */
export function prefillBucket(tokens: number): number {
  if (tokens <= 16) return 16;
  const step = 2 ** Math.floor(Math.log2(tokens)) / 4;
  return Math.ceil(tokens / step) * step;
}

/**
 * Runs the prompt past the positions `cache` already holds through the eager model, padded to a
 * bucket length within `capacity` (0: not padded), and returns the logits of its last token [1, 1, V].
 * The prompt cannot see the pads after it, and the decode steps overwrite their cache entries before
 * any step reads them; the cache ends at the prompt's length.
 */
export function prefillForward(
  model: Transformer,
  cache: KVCache,
  promptIds: readonly number[],
  capacity: number,
): Tensor {
  const cached = cache.length;
  const rest = promptIds.slice(cached);
  const length = capacity > 0 ? Math.min(prefillBucket(rest.length), capacity - cached) : rest.length;
  const ids = [...rest, ...new Array<number>(Math.max(0, length - rest.length)).fill(rest[rest.length - 1]!)];
  const last = model.forward([ids], {
    cache,
    lastPositionOnly: true,
    lastPosition: rest.length - 1,
    ropeLength: promptIds.length,
  });
  cache.length = promptIds.length;
  return last;
}
