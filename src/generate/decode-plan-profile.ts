/// <reference types="@webgpu/types" />
/**
 * Timing of a planned decode step's parts for benchmarks (DecodePlan.profile): `hostMs`, the host time
 * to encode and submit one step; `streamMs`, the period of steps submitted back to back without
 * read-backs (host encoding overlaps the GPU); with the timestamp-query feature, `gpuMs`, the GPU time
 * of one step, and `byLabel`, GPU time per step of each dispatch label (digits folded to #): that
 * label's dispatches alone, in step order, with the barriers between them. Each is timed over a pass
 * that repeats its dispatches for milliseconds, since timestamps may be quantized (Dawn: ~65 µs).
 */
import { encodeDispatches, type PlannedDispatch, type StepRecorder } from './decode-plan-record.js';

const MAP_READ = 0x01;
const COPY_DST = 0x08;

export interface StepProfile {
  hostMs: number;
  /**
   * Host ms per step with what a decode step adds to the encoding: the step uniform's writeBuffer,
   * and then also the copy of the step's token into a read-back buffer.
   */
  hostWithUniformMs: number;
  hostWithUniformAndCopyMs: number;
  streamMs: number;
  /** The same period with two steps to a command buffer (the GPU's gap between command buffers). */
  streamPairMs: number;
  /** Two steps to a command buffer in one compute pass (what a pass boundary costs the GPU). */
  streamPassPairMs: number;
  /**
   * Two steps to a command buffer as the decoder encodes them: each pass preceded by a 16-byte copy
   * into the step uniform and followed by a 4-byte copy of the token (what those copies cost the GPU).
   */
  streamCopiesMs: number;
  gpuMs: number | null;
  byLabel: Record<string, { count: number; ms: number }> | null;
}

/** Profiles the recorded step (its step uniform already written for the position to run at). */
export async function profileStep(
  device: GPUDevice,
  recorder: StepRecorder,
  timestamps: boolean,
  steps: number,
  /** The step uniform's words (set here for `position`, the position profiled). */
  stepWords: Uint32Array,
  position: number,
): Promise<StepProfile> {
  const queue = device.queue;
  stepWords[0] = position;
  stepWords[1] = position + 1;
  queue.writeBuffer(recorder.stepUniform, 0, stepWords);
  const encodeStep = (writes?: GPUComputePassTimestampWrites) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(writes ? { timestampWrites: writes } : {});
    encodeDispatches(pass, recorder.dispatches);
    pass.end();
    return encoder.finish();
  };
  await queue.onSubmittedWorkDone();
  let host = 0;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const h = performance.now();
    queue.submit([encodeStep()]);
    host += performance.now() - h;
  }
  await queue.onSubmittedWorkDone();
  const streamMs = (performance.now() - t0) / steps;
  const hostMs = host / steps;
  // Two steps to a command buffer (a pass each): what the GPU's gap between command buffers costs.
  const t1 = performance.now();
  for (let i = 0; i < steps; i += 2) {
    const encoder = device.createCommandEncoder();
    for (let k = 0; k < 2; k++) {
      const pass = encoder.beginComputePass();
      encodeDispatches(pass, recorder.dispatches);
      pass.end();
    }
    queue.submit([encoder.finish()]);
  }
  await queue.onSubmittedWorkDone();
  const streamPairMs = (performance.now() - t1) / (2 * Math.ceil(steps / 2));
  // Two steps in one pass: the GPU's cost of a pass boundary.
  const t2 = performance.now();
  for (let i = 0; i < steps; i += 2) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let k = 0; k < 2; k++) encodeDispatches(pass, recorder.dispatches);
    pass.end();
    queue.submit([encoder.finish()]);
  }
  await queue.onSubmittedWorkDone();
  const streamPassPairMs = (performance.now() - t2) / (2 * Math.ceil(steps / 2));
  // As the decoder encodes two steps: uniform copy, pass, token copy, twice.
  const words = recorder.buffer(16, 0x04 | COPY_DST);
  queue.writeBuffer(words, 0, stepWords);
  const tokenSink = recorder.buffer(16, COPY_DST);
  const t3 = performance.now();
  for (let i = 0; i < steps; i += 2) {
    const encoder = device.createCommandEncoder();
    for (let k = 0; k < 2; k++) {
      encoder.copyBufferToBuffer(words, 0, recorder.stepUniform, 0, 16);
      const pass = encoder.beginComputePass();
      encodeDispatches(pass, recorder.dispatches);
      pass.end();
      encoder.copyBufferToBuffer(recorder.tokens, 0, tokenSink, 4 * k, 4);
    }
    queue.submit([encoder.finish()]);
  }
  await queue.onSubmittedWorkDone();
  const streamCopiesMs = (performance.now() - t3) / (2 * Math.ceil(steps / 2));
  // The same with the step's other host work: the uniform write (same words), the token copy.
  const tokenCopy = recorder.buffer(16, MAP_READ | COPY_DST);
  const hostWith = async (copy: boolean): Promise<number> => {
    await queue.onSubmittedWorkDone();
    let total = 0;
    for (let i = 0; i < steps; i++) {
      const h = performance.now();
      queue.writeBuffer(recorder.stepUniform, 0, stepWords);
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      encodeDispatches(pass, recorder.dispatches);
      pass.end();
      if (copy) encoder.copyBufferToBuffer(recorder.tokens, 0, tokenCopy, 0, 4);
      queue.submit([encoder.finish()]);
      total += performance.now() - h;
    }
    await queue.onSubmittedWorkDone();
    return total / steps;
  };
  const timings = {
    hostMs,
    hostWithUniformMs: await hostWith(false),
    hostWithUniformAndCopyMs: await hostWith(true),
    streamMs,
    streamPairMs,
    streamPassPairMs,
    streamCopiesMs,
  };
  if (!timestamps) return { ...timings, gpuMs: null, byLabel: null };
  // Timestamps may be quantized coarsely (Dawn on NVIDIA: 65.5 µs), so each figure times a pass that
  // repeats its dispatches until it lasts milliseconds: the whole step `reps` times, and per kind all of
  // that kind's dispatches in step order `reps` times (barriers between them as in the step).
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = recorder.buffer(16, 0x200 | 0x04); // QUERY_RESOLVE | COPY_SRC
  const read = recorder.buffer(16, MAP_READ | COPY_DST);
  const timePass = async (list: readonly PlannedDispatch[], reps: number): Promise<number> => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({
      timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
    for (let r = 0; r < reps; r++) encodeDispatches(pass, list);
    pass.end();
    encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
    queue.submit([encoder.finish()]);
    await read.mapAsync(MAP_READ);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    return Number(t[1]! - t[0]!) / 1e6 / reps;
  };
  const repsFor = (count: number) => Math.max(8, Math.ceil(1500 / count));
  const mid = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  const timeMedian = async (list: readonly PlannedDispatch[]) => {
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) samples.push(await timePass(list, repsFor(list.length)));
    return mid(samples);
  };
  const gpuMs = await timeMedian(recorder.dispatches);
  const kinds = new Map<string, PlannedDispatch[]>();
  for (const d of recorder.dispatches) {
    const key = d.label.replace(/\d+/g, '#');
    kinds.set(key, [...(kinds.get(key) ?? []), d]);
  }
  const byLabel: Record<string, { count: number; ms: number }> = {};
  for (const [key, list] of kinds)
    byLabel[key] = { count: list.length, ms: Number((await timeMedian(list)).toFixed(4)) };
  querySet.destroy();
  return { ...timings, gpuMs, byLabel };
}
