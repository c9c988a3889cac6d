/// <reference types="@webgpu/types" />
/**
 * Placement of a plan's constant buffers (16-bit weight copies, norm weights, biases) as aligned ranges
 * of a few large buffers. What a dispatch costs the host in Dawn grows with the distinct buffers it
 * binds: their usages are tracked when it is encoded and their barriers worked out at submit. With a
 * buffer per matrix, SmolLM2's step binds ~600 distinct buffers; from arenas, a dispatch's weights,
 * norm and bias come from one or two. (On lavapipe, 150 dispatches of 7 bindings each: submit 0.60 →
 * 0.37 µs a dispatch, encoding 1.9 → 1.8 µs.)
 */

import type { FusedMatvecSpec } from '../backend/webgpu/decode/matvec-fused.js';

/** Where each range goes: chunk index and byte offset, and the size of each chunk. */
export interface ArenaLayout {
  chunks: number[];
  places: { chunk: number; offset: number }[];
}

/**
 * Packs ranges of `sizes` bytes into chunks of at most `cap` bytes in order, each range starting at a
 * multiple of `align` (a range larger than `cap` gets a chunk of its own).
 */
export function arenaLayout(sizes: readonly number[], cap: number, align: number): ArenaLayout {
  const chunks: number[] = [];
  const places: { chunk: number; offset: number }[] = [];
  let used = cap; // no open chunk yet
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 0)
      throw new Error(`arena range sizes must be byte counts, got ${size}`);
    const offset = Math.ceil(used / align) * align;
    if (chunks.length === 0 || offset + size > cap) {
      chunks.push(size);
      places.push({ chunk: chunks.length - 1, offset: 0 });
      used = size;
      continue;
    }
    places.push({ chunk: chunks.length - 1, offset });
    used = offset + size;
    chunks[chunks.length - 1] = used;
  }
  return { chunks, places };
}

/**
 * Bindings for ranges of `sizes` bytes carved from buffers made by `allocate` (sizes rounded up to 16
 * bytes), at most `cap` bytes each (or one range, when it is larger).
 */
export function arenaBindings(
  sizes: readonly number[],
  cap: number,
  align: number,
  allocate: (bytes: number) => GPUBuffer,
): GPUBufferBinding[] {
  const { chunks, places } = arenaLayout(sizes, cap, align);
  const buffers = chunks.map((bytes) => allocate(Math.max(16, Math.ceil(bytes / 16) * 16)));
  return places.map(({ chunk, offset }, i) => ({ buffer: buffers[chunk]!, offset, size: sizes[i]! }));
}

/** Ranges handed out one after another from chunks of `chunkBytes` (small constants: norms, biases). */
export class ArenaPool {
  private chunk: GPUBuffer | null = null;
  private used = 0;

  constructor(
    private readonly allocate: (bytes: number) => GPUBuffer,
    private readonly chunkBytes: number,
    private readonly align: number,
  ) {}

  /** A range of `bytes` (a chunk of its own when larger than a chunk). */
  take(bytes: number): GPUBufferBinding {
    if (bytes > this.chunkBytes)
      return { buffer: this.allocate(Math.ceil(bytes / 16) * 16), offset: 0, size: bytes };
    const offset = Math.ceil(this.used / this.align) * this.align;
    if (!this.chunk || offset + bytes > this.chunkBytes) {
      this.chunk = this.allocate(this.chunkBytes);
      this.used = bytes;
      return { buffer: this.chunk, offset: 0, size: bytes };
    }
    this.used = offset + bytes;
    return { buffer: this.chunk, offset, size: bytes };
  }
}

/**
 * A matvec's weight bindings merged into one (`sourceOffsets`) where they are consecutive ranges of one
 * buffer (16-bit copies in the plan's arena: q/k/v, gate/up), else as given.
 */
export function stackSources(
  spec: FusedMatvecSpec,
  resources: (GPUBuffer | GPUBufferBinding)[],
): { spec: FusedMatvecSpec; resources: (GPUBuffer | GPUBufferBinding)[] } {
  if (spec.sources.length < 2 || spec.combine || spec.sourceOffsets) return { spec, resources };
  const norms = spec.normEps === null ? 0 : spec.normType === 'layernorm' && spec.normBias ? 2 : 1;
  const start = 1 + norms;
  const weights = resources.slice(start, start + spec.sources.length);
  const ranges = weights.filter((r): r is GPUBufferBinding => 'buffer' in r && r.offset !== undefined);
  const element = (spec.weights ?? 'f32') === 'f32' ? (spec.k % 4 === 0 ? 16 : 4) : 16;
  const first = ranges[0];
  if (
    !first ||
    ranges.length !== weights.length ||
    ranges.some(
      (r) =>
        r.buffer !== first.buffer || (r.offset! - first.offset!) % element !== 0 || r.offset! < first.offset!,
    )
  )
    return { spec, resources };
  const end = Math.max(...ranges.map((r) => r.offset! + r.size!));
  const merged: GPUBufferBinding = { buffer: first.buffer, offset: first.offset!, size: end - first.offset! };
  return {
    spec: { ...spec, sourceOffsets: ranges.map((r) => (r.offset! - first.offset!) / element) },
    resources: [...resources.slice(0, start), merged, ...resources.slice(start + weights.length)],
  };
}
