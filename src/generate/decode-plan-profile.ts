/// <reference types="@webgpu/types" />
/**
 * Timing of a planned decode step's parts for benchmarks (DecodePlan.profile): `hostMs`, the host time
 * to encode and submit one step; `streamMs`, the period of steps submitted back to back without
 * read-backs (host encoding overlaps the GPU); with the timestamp-query feature, `gpuMs`, the GPU time
 * of one step's pass, and `byLabel`, GPU time per dispatch label (digits folded to #) with each
 * dispatch timed in its own pass (barriers between passes included). Timestamps may be quantized by
 * the implementation (Dawn: ~65 µs on some setups), so per-label figures are sums of coarse samples.
 */
import { encodeDispatches, type StepRecorder } from './decode-plan-record.js';

const MAP_READ = 0x01;
const COPY_DST = 0x08;

export interface StepProfile {
  hostMs: number;
  streamMs: number;
  gpuMs: number | null;
  byLabel: Record<string, { count: number; ms: number }> | null;
}

/** Profiles the recorded step (its step uniform already written for the position to run at). */
export async function profileStep(
  device: GPUDevice,
  recorder: StepRecorder,
  timestamps: boolean,
  steps: number,
): Promise<StepProfile> {
  const queue = device.queue;
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
  if (!timestamps) return { hostMs, streamMs, gpuMs: null, byLabel: null };
  const n = recorder.dispatches.length;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * (n + 1) });
  const resolve = recorder.buffer(16 * (n + 1), 0x200 | 0x04); // QUERY_RESOLVE | COPY_SRC
  const read = recorder.buffer(16 * (n + 1), MAP_READ | COPY_DST);
  const gpuSamples: number[] = [];
  const perLabel = new Map<string, number[]>();
  for (let rep = 0; rep < 5; rep++) {
    const encoder = device.createCommandEncoder();
    const whole = encodeStep({ querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
    recorder.dispatches.forEach((d, i) => {
      const pass = encoder.beginComputePass({
        timestampWrites: { querySet, beginningOfPassWriteIndex: 2 + 2 * i, endOfPassWriteIndex: 3 + 2 * i },
      });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
      pass.end();
    });
    encoder.resolveQuerySet(querySet, 0, 2 * (n + 1), resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, 16 * (n + 1));
    queue.submit([whole, encoder.finish()]);
    await read.mapAsync(MAP_READ);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    gpuSamples.push(Number(t[1]! - t[0]!) / 1e6);
    recorder.dispatches.forEach((d, i) => {
      const key = d.label.replace(/\d+/g, '#');
      const list = perLabel.get(key) ?? [];
      list[rep] = (list[rep] ?? 0) + Number(t[3 + 2 * i]! - t[2 + 2 * i]!) / 1e6;
      perLabel.set(key, list);
    });
  }
  querySet.destroy();
  const mid = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  const byLabel: Record<string, { count: number; ms: number }> = {};
  for (const [key, list] of perLabel) {
    const count = recorder.dispatches.filter((d) => d.label.replace(/\d+/g, '#') === key).length;
    byLabel[key] = { count, ms: Number(mid(list).toFixed(4)) };
  }
  return { hostMs, streamMs, gpuMs: mid(gpuSamples), byLabel };
}
