/// <reference types="@webgpu/types" />
/**
 * Token read-back of the planned decode step in batches. Each step copies its token (4 bytes) into
 * the open batch's staging buffer; closing the batch maps that buffer once and resolves every step in
 * it. One map per step costs the host a map, a callback and the event-loop turns that deliver it (in
 * Node, Dawn's event polling runs between macrotasks while a map is pending): on the H200 about a
 * quarter of the host's time per step for SmolLM2-135M. A decoder that keeps several steps submitted
 * ahead closes a batch every few steps instead, so it reads tokens back without waiting on each.
 */

const MAP_READ = 0x01;
const COPY_DST = 0x08;

/** Steps one batch holds at most (its staging buffer's slots). */
export const readBackBatch = 8;

interface PendingStep {
  serial: number;
  resolve(token: number): void;
  reject(error: unknown): void;
}

export class TokenReadBack {
  private readonly stagings: GPUBuffer[] = [];
  /** Settles when the staging buffer of that slot is unmapped again (its batch read). */
  private readonly inflight: Promise<void>[] = [];
  private next = 0;
  private batch: { slot: number; steps: PendingStep[] } | null = null;

  constructor(makeBuffer: (bytes: number, usage: number) => GPUBuffer, ring: number) {
    for (let i = 0; i < ring; i++) {
      this.stagings.push(makeBuffer(4 * readBackBatch, MAP_READ | COPY_DST));
      this.inflight.push(Promise.resolve());
    }
  }

  /** Waits, when a batch has to be opened, until its staging buffer is free; call before encoding a step. */
  async reserve(): Promise<void> {
    if (this.batch) return;
    const slot = this.next++ % this.stagings.length;
    await this.inflight[slot];
    this.batch ??= { slot, steps: [] };
  }

  /**
   * Encodes the copy of `tokens[0]` into the open batch (after `reserve`) for step `serial`; the
   * promise resolves with the token once the batch is closed and read. Submit `encoder` before
   * closing the batch.
   */
  record(encoder: GPUCommandEncoder, tokens: GPUBuffer, serial: number): Promise<number> {
    const batch = this.batch;
    if (!batch) throw new Error('TokenReadBack.record needs reserve() first');
    encoder.copyBufferToBuffer(tokens, 0, this.stagings[batch.slot]!, 4 * batch.steps.length, 4);
    return new Promise<number>((resolve, reject) => batch.steps.push({ serial, resolve, reject }));
  }

  /** Whether the open batch has no room for another step. */
  get full(): boolean {
    return this.batch !== null && this.batch.steps.length >= readBackBatch;
  }

  /** Whether step `serial` waits in the open batch (its token is read once the batch closes). */
  holds(serial: number): boolean {
    return this.batch?.steps.some((s) => s.serial === serial) ?? false;
  }

  /** Maps the open batch's staging buffer (once its steps' commands are submitted) and resolves them. */
  close(): void {
    const batch = this.batch;
    if (!batch || batch.steps.length === 0) return;
    this.batch = null;
    const staging = this.stagings[batch.slot]!;
    this.inflight[batch.slot] = (async () => {
      try {
        await staging.mapAsync(MAP_READ, 0, 4 * batch.steps.length);
        const tokens = new Uint32Array(staging.getMappedRange(0, 4 * batch.steps.length).slice(0));
        staging.unmap();
        for (const [i, s] of batch.steps.entries()) s.resolve(tokens[i]!);
      } catch (error) {
        for (const s of batch.steps) s.reject(error);
      }
    })();
  }
}
