/**
 * Key/value cache for incremental decoding, preallocated to a capacity (the context the caller needs)
 * and filled in place. One slot per virtual layer (a shared block executed twice has two slots).
 * Standard attention caches K and V [B, G, capacity, headDim]; MLA caches only the normalised latent
 * [B, capacity, kvLoraRank] and the rotated shared key [B, capacity, ropeDim] (absorbed-weight decode).
 * Caches serve inference: writes are not differentiable.
 */
import { slice, writeSlice, zeros } from '../ops/index.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export interface CacheSlot {
  /** [B, G, capacity, headDim] or MLA latent [B, capacity, kvLoraRank]; null until first written. */
  keys: Tensor | null;
  /** [B, G, capacity, headDim] or MLA rotated key [B, capacity, ropeDim]. */
  values: Tensor | null;
}

export class KVCache {
  readonly slots: CacheSlot[];
  /** Positions already cached (the model advances it after each forward). */
  length = 0;

  constructor(
    virtualLayers: number,
    /** Positions the cache can hold. */
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`KV cache capacity must be a positive integer, got ${capacity}`);
    this.slots = Array.from({ length: virtualLayers }, () => ({ keys: null, values: null }));
  }

  private buffer(like: Tensor, axis: number): Tensor {
    const shape = like.shape.map((d, i) => (i === axis ? this.capacity : d));
    return zeros(shape, { dtype: like.dtype, backend: like.backend }).keep();
  }

  /**
   * Writes the new entries (positions length … length+T−1 along `axis`) and returns the cached
   * entries of every position so far.
   */
  append(slot: number, keys: Tensor, values: Tensor, axis: number): { keys: Tensor; values: Tensor } {
    const s = this.slots[slot]!;
    const added = keys.shape[axis]!;
    const end = this.length + added;
    if (end > this.capacity) {
      throw new Error(
        `the KV cache holds ${this.capacity} positions; ${end} are needed (create it with a larger capacity)`,
      );
    }
    s.keys ??= this.buffer(keys, axis);
    s.values ??= this.buffer(values, axis);
    for (const [buffer, entries] of [
      [s.keys, keys],
      [s.values, values],
    ] as const) {
      if (buffer.shape.some((d, i) => i !== axis && d !== entries.shape[i])) {
        throw new Error(
          `KV cache slot ${slot} holds ${formatShape(buffer.shape)}; got entries ${formatShape(entries.shape)}`,
        );
      }
      writeSlice(buffer, entries, axis, this.length);
    }
    return { keys: slice(s.keys, axis, 0, end), values: slice(s.values, axis, 0, end) };
  }

  /** Forgets every cached position (buffers are kept for reuse). */
  reset(): void {
    this.length = 0;
  }

  /** Frees the buffers. */
  dispose(): void {
    for (const s of this.slots) {
      s.keys?.dispose();
      s.values?.dispose();
      s.keys = null;
      s.values = null;
    }
    this.length = 0;
  }

  /** Floats held per cached position across all slots (the cache's footprint per token). */
  floatsPerToken(): number {
    let total = 0;
    for (const s of this.slots) {
      for (const t of [s.keys, s.values]) {
        if (!t) continue;
        // Standard: [B, G, capacity, D] (positions on axis 2); MLA: [B, capacity, D] (axis 1).
        const seqAxis = t.rank === 4 ? 2 : 1;
        total += t.size / (t.shape[0]! * t.shape[seqAxis]!);
      }
    }
    return total;
  }
}
