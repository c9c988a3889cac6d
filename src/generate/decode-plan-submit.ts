/// <reference types="@webgpu/types" />
/**
 * Command buffers of the planned decode steps (DecodePlanOptions.stepsPerSubmit): one a step, or two
 * steps to one. The GPU pauses between command buffers (the profile's `streamPairMs`: two steps to a
 * command buffer took Llama-3.2-1B from 1.093 to 1.051 ms a step on the H200, against 1.018 ms of GPU
 * work), and each submit has a fixed host cost. With two a buffer, a step's uniform words cannot be
 * written to the step uniform directly (both writes would land before either step ran): each step's
 * words go to a slot of a ring, copied into the uniform inside the command buffer before its pass.
 * A step is held (encoded, not submitted) until the next one joins it, or until something must run
 * after it or wait for it: `flush`.
 */

const COPY_SRC = 0x04;
const COPY_DST = 0x08;
/** Uniform slots in the ring: more than the steps that can be encoded and not yet run. */
const ringSlots = 64;

export class StepSubmitter {
  private held: GPUCommandEncoder | null = null;
  private heldSteps = 0;
  private slot = 0;
  private readonly ring: GPUBuffer | null;

  constructor(
    private readonly device: GPUDevice,
    private readonly stepUniform: GPUBuffer,
    makeBuffer: (bytes: number, usage: number) => GPUBuffer,
    readonly stepsPerSubmit: 1 | 2,
  ) {
    this.ring = stepsPerSubmit > 1 ? makeBuffer(ringSlots * 16, COPY_SRC | COPY_DST) : null;
  }

  /** The command encoder for the next step, with its uniform `words` in place for its pass. */
  begin(words: Uint32Array): GPUCommandEncoder {
    if (!this.ring) {
      this.device.queue.writeBuffer(this.stepUniform, 0, words);
      return this.device.createCommandEncoder();
    }
    const offset = (this.slot++ % ringSlots) * 16;
    this.device.queue.writeBuffer(this.ring, offset, words);
    const encoder = this.held ?? this.device.createCommandEncoder();
    this.held = null;
    encoder.copyBufferToBuffer(this.ring, offset, this.stepUniform, 0, 16);
    return encoder;
  }

  /** After a step's commands: submits them now when `now` or when the buffer is full, else holds them. */
  end(encoder: GPUCommandEncoder, now: boolean): void {
    this.heldSteps++;
    if (now || this.heldSteps >= this.stepsPerSubmit) {
      this.device.queue.submit([encoder.finish()]);
      this.heldSteps = 0;
    } else this.held = encoder;
  }

  /** Submits a held step: before work that must run after it, or a wait for its results. */
  flush(): void {
    if (!this.held) return;
    this.device.queue.submit([this.held.finish()]);
    this.held = null;
    this.heldSteps = 0;
  }

  /** Forgets a held step (the plan is being disposed). */
  drop(): void {
    this.held = null;
    this.heldSteps = 0;
  }
}
