/**
 * Key/value cache for incremental decoding: one slot per virtual layer (a shared block executed twice
 * has two slots). Standard attention caches K and V [B, G, S, headDim]; MLA caches only the normalised
 * latent [B, S, kvLoraRank] and the rotated shared key [B, S, ropeDim].
 */
import { concat } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';

export interface CacheSlot {
  /** [B, G, S, headDim] or MLA latent [B, S, kvLoraRank]. */
  keys: Tensor | null;
  /** [B, G, S, headDim] or MLA rotated key [B, S, ropeDim]. */
  values: Tensor | null;
}

export class KVCache {
  readonly slots: CacheSlot[];
  /** Positions already cached. */
  length = 0;

  constructor(virtualLayers: number) {
    this.slots = Array.from({ length: virtualLayers }, () => ({ keys: null, values: null }));
  }

  /** Appends new entries along `axis` and returns the full cached tensors. */
  append(slot: number, keys: Tensor, values: Tensor, axis: number): { keys: Tensor; values: Tensor } {
    const s = this.slots[slot]!;
    const allKeys = s.keys ? concat([s.keys, keys], axis) : keys;
    const allValues = s.values ? concat([s.values, values], axis) : values;
    if (s.keys && s.keys !== allKeys) s.keys.dispose();
    if (s.values && s.values !== allValues) s.values.dispose();
    s.keys = allKeys.keep();
    s.values = allValues.keep();
    return { keys: allKeys, values: allValues };
  }

  /** Frees every cached tensor. */
  dispose(): void {
    for (const s of this.slots) {
      s.keys?.dispose();
      s.values?.dispose();
      s.keys = null;
      s.values = null;
    }
    this.length = 0;
  }

  /** Floats held per token across all slots (for measuring the cache's footprint). */
  floatsPerToken(): number {
    let total = 0;
    for (const s of this.slots) {
      for (const t of [s.keys, s.values]) {
        if (!t) continue;
        // Standard: [B, G, S, D] (S at axis 2); MLA: [B, S, D] (S at axis 1).
        const seqAxis = t.rank === 4 ? 2 : 1;
        total += t.size / (t.shape[0]! * t.shape[seqAxis]!);
      }
    }
    return total;
  }
}
