/// <reference types="@webgpu/types" />
/**
 * Several greedy decode steps in one submit (DecodePlan.submitBatch): one command buffer in which a
 * 16-byte copy puts each step's position into the step uniform before its pass, and each step's token
 * is copied out after it, so the host pays one submit and one read-back for n tokens. Two batches can
 * be in flight (each has its own positions and read-back buffers).
 */
import { COPY_DST, COPY_SRC, encodeDispatches, type StepRecorder } from './decode-plan-record.js';

/** Steps one batch may run. */
export const maxBatch = 16;
const MAP_READ = 0x01;
const STORAGE = 0x80;

export class BatchRunner {
  private positions: GPUBuffer | null = null;
  private readonly stagings: GPUBuffer[] = [];
  private readonly inflight: Promise<void>[] = [];
  private batches = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly recorder: StepRecorder,
  ) {}

  /**
   * Encodes and submits steps at positions pos … pos + n − 1 (the first one's input token already in
   * the recorder's token buffer); `tokens` resolves with their n tokens once read back.
   */
  async run(pos: number, n: number): Promise<{ tokens: Promise<number[]>; dispatched: number }> {
    const slot = this.batches++ % 2;
    await this.inflight[slot]; // its read-back buffer is unmapped again
    this.positions ??= this.recorder.buffer(16 * maxBatch * 2, STORAGE | COPY_SRC | COPY_DST);
    this.stagings[slot] ??= this.recorder.buffer(4 * maxBatch, MAP_READ | COPY_DST);
    const staging = this.stagings[slot]!;
    const words = new Uint32Array(4 * n);
    for (let j = 0; j < n; j++) {
      words[4 * j] = pos + j;
      words[4 * j + 1] = pos + j + 1;
    }
    const base = slot * 16 * maxBatch;
    this.device.queue.writeBuffer(this.positions, base, words);
    const encoder = this.device.createCommandEncoder();
    let dispatched = 0;
    for (let j = 0; j < n; j++) {
      encoder.copyBufferToBuffer(this.positions, base + 16 * j, this.recorder.stepUniform, 0, 16);
      const pass = encoder.beginComputePass();
      dispatched += encodeDispatches(pass, this.recorder.dispatches);
      pass.end();
      encoder.copyBufferToBuffer(this.recorder.tokens, 0, staging, 4 * j, 4);
    }
    this.device.queue.submit([encoder.finish()]);
    const tokens = (async () => {
      await staging.mapAsync(MAP_READ);
      const out = Array.from(new Uint32Array(staging.getMappedRange(0, 4 * n)));
      staging.unmap();
      return out;
    })();
    this.inflight[slot] = tokens.then(
      () => undefined,
      () => undefined,
    );
    return { tokens, dispatched };
  }
}
