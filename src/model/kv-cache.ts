/**
 * Key/value cache for incremental decoding, preallocated to a capacity (the context the caller needs)
 * and filled in place. One slot per virtual layer (a shared block executed twice has two slots).
 * Standard attention caches K and V [B, G, capacity, headDim]; MLA caches only the normalised latent
 * [B, capacity, kvLoraRank] and the rotated shared key [B, capacity, ropeDim] (absorbed-weight decode).
 * Sliding-window layers keep only their window (a ring buffer of `window` positions), so their memory
 * does not grow with the context. Caches serve inference: writes are not differentiable.
 */
import { concat, slice, writeSlice, zeros } from '../ops/index.js';
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

  /** Positions each slot stores: the capacity, or the window of a sliding-window layer (ring buffer). */
  readonly slotSizes: number[];

  constructor(
    virtualLayers: number,
    /** Positions the cache can hold. */
    readonly capacity: number,
    /** Attention window of each virtual layer (null: full attention). */
    windows: readonly (number | null)[] = [],
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`KV cache capacity must be a positive integer, got ${capacity}`);
    }
    this.slots = Array.from({ length: virtualLayers }, () => ({ keys: null, values: null }));
    this.slotSizes = this.slots.map((_, i) => Math.min(capacity, windows[i] ?? capacity));
  }

  private buffer(like: Tensor, axis: number, size: number): Tensor {
    const shape = like.shape.map((d, i) => (i === axis ? size : d));
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
    const size = this.slotSizes[slot]!;
    s.keys ??= this.buffer(keys, axis, size);
    s.values ??= this.buffer(values, axis, size);
    const out: Tensor[] = [];
    for (const [buffer, entries] of [
      [s.keys, keys],
      [s.values, values],
    ] as const) {
      if (buffer.shape.some((d, i) => i !== axis && d !== entries.shape[i])) {
        throw new Error(
          `KV cache slot ${slot} holds ${formatShape(buffer.shape)}; got entries ${formatShape(entries.shape)}`,
        );
      }
      out.push(
        size === this.capacity
          ? this.appendLinear(buffer, entries, axis)
          : this.appendRing(buffer, entries, axis, size),
      );
    }
    return { keys: out[0]!, values: out[1]! };
  }

  /**
   * Writes at positions length… and returns positions 0 … length+T−1: into an empty cache (a prompt's
   * prefill) those are the entries themselves, so no copy is read back out of the buffer.
   */
  private appendLinear(buffer: Tensor, entries: Tensor, axis: number): Tensor {
    writeSlice(buffer, entries, axis, this.length);
    if (this.length === 0) return entries;
    return slice(buffer, axis, 0, this.length + entries.shape[axis]!);
  }

  /**
   * Ring buffer of `size` positions (position p at index p mod size): returns the cached history in
   * order followed by the new entries (what the window can see), then stores the newest `size` positions.
   */
  private appendRing(buffer: Tensor, entries: Tensor, axis: number, size: number): Tensor {
    const added = entries.shape[axis]!;
    const history = Math.min(this.length, size);
    const start = (this.length - history) % size;
    const parts: Tensor[] = [];
    if (history > 0) {
      const first = Math.min(history, size - start);
      parts.push(slice(buffer, axis, start, start + first));
      if (history > first) parts.push(slice(buffer, axis, 0, history - first));
    }
    const visible = concat([...parts, entries], axis);
    const kept = Math.min(added, size);
    const newest = slice(entries, axis, added - kept, added);
    const at = (this.length + added - kept) % size;
    const firstWrite = Math.min(kept, size - at);
    writeSlice(buffer, slice(newest, axis, 0, firstWrite), axis, at);
    if (kept > firstWrite) writeSlice(buffer, slice(newest, axis, firstWrite, kept), axis, 0);
    return visible;
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
