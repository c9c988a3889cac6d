/** Shared timing and table printing for the WebGPU benchmarks. */
import type { GpuRuntime } from '../src/backend/webgpu/index.js';

/**
 * Timing on the WebGPU device: one sample is `reps` repetitions of a body that encodes work, submitted
 * together, timed on the wall clock from the first encode to onSubmittedWorkDone and divided by reps.
 * A warm-up run (which also compiles pipelines) sizes reps so one sample lasts about `sampleSeconds`;
 * the median of `samples` samples is returned, in seconds per repetition.
 */
export async function timeGpu(
  runtime: GpuRuntime,
  encode: () => void,
  samples = 5,
  sampleSeconds = 0.1,
): Promise<number> {
  const once = async (reps: number) => {
    const start = performance.now();
    for (let r = 0; r < reps; r++) encode();
    await runtime.sync();
    return (performance.now() - start) / 1000 / reps;
  };
  await once(1);
  const single = await once(1);
  const reps = Math.min(500, Math.max(1, Math.round(sampleSeconds / single)));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) times.push(await once(reps));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export interface Row {
  bench: string;
  shape: string;
  ms: number;
  rate: string;
  ceiling: string;
  fraction: string;
}

export function row(
  bench: string,
  shape: string,
  seconds: number,
  rate: number,
  unit: 'TFLOP/s' | 'GB/s',
  ceiling: number,
): Row {
  return {
    bench,
    shape,
    ms: Number((seconds * 1000).toFixed(3)),
    rate: `${rate.toPrecision(3)} ${unit}`,
    ceiling: `${ceiling} ${unit}`,
    fraction: `${((100 * rate) / ceiling).toFixed(1)}%`,
  };
}

export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  console.table(rows);
  console.log(`JSON ${JSON.stringify({ title, rows })}`);
}

/** Deterministic values in [-1, 1) (an LCG), to avoid timing on zeros. */
export function noise(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32) * 2 - 1;
  }
  return out;
}
