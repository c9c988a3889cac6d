/// <reference types="@webgpu/types" />
/**
 * A per-dispatch GPU profile of eager work (a training step, a prefill): every dispatch the runtime
 * encodes while `run` executes is recorded with the op that issued it (the kernel-registry name and its
 * input shapes) and the WGSL it ran, and timed on the GPU:
 *
 * - with the 'timestamp-query' feature, each dispatch gets a compute pass of its own whose beginning and
 *   end timestamps are written to a query set (the pass boundary is also a barrier, which eager
 *   dispatches have between them anyway). Dawn quantizes timestamps on some setups (~65 µs steps), so
 *   single dispatches read coarse; sums over many dispatches of one kernel average that out.
 * - without it, the recorded dispatches are replayed one by one after `run`, each submitted alone and
 *   waited for, on the wall clock (this includes a submit's latency; the buffers hold whatever they hold
 *   by then, so data-dependent kernels — gathers, scatters — may time differently).
 *
 * Buffer copies and clears (not dispatches) are counted with their bytes but not timed; the difference
 * between the GPU span of the step and the sum of dispatch times is reported as what they (and gaps
 * between submits) took.
 */
import { getKernel, type Kernel, type OutputSpec, registerKernel, type TensorInfo } from '../backend.js';
import type { WebGPUBackend } from './backend.js';
import { webgpuKernels } from './backend.js';
import type { Words } from './params.js';
import { shaderKey } from './shader.js';

/** The op call a dispatch belongs to. */
export interface OpCall {
  /** Kernel-registry name: 'matmul', 'layerNormBackward', … ('' for work issued outside a kernel). */
  readonly op: string;
  readonly inputs: readonly { shape: readonly number[]; dtype: string }[];
  readonly outputs: readonly OutputSpec[];
  readonly attrs: unknown;
}

export interface DispatchRecord {
  readonly call: OpCall | null;
  /** The shader: its memoShader key, or the function and line that dispatched it. */
  readonly shader: string;
  readonly groups: readonly number[];
  /** GPU time (ms); null until measured. */
  ms: number | null;
}

export interface Profile {
  readonly mode: 'timestamp-query' | 'wall-clock replay';
  readonly dispatches: DispatchRecord[];
  /** Buffer-to-buffer copies and clears encoded during the run. */
  readonly copies: { count: number; bytes: number };
  readonly clears: { count: number; bytes: number };
  /** GPU time from the first dispatch's start to the last one's end (timestamp mode only). */
  readonly spanMs: number | null;
  /** Host wall-clock time of `run` (profiling overhead included). */
  readonly wallMs: number;
}

/** Timestamp query sets hold at most 4096 queries. */
const queriesPerSet = 4096;

/** Where a dispatch came from: the first stack frame outside the runtime and this file. */
function caller(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  for (const frame of frames) {
    if (/runtime\.[jt]s|profiler\.[jt]s/.test(frame)) continue;
    const match = /at (?:(\S+) )?\(?(?:.*\/)?([^/]+\.[jt]s):(\d+)/.exec(frame);
    if (match) return `${match[1] ?? '(anonymous)'} ${match[2]}:${match[3]}`;
  }
  return '(unknown)';
}

/**
 * Runs `run` once with every dispatch on `backend` recorded and timed. The runtime and the kernel
 * registry are restored afterwards, also when `run` throws.
 */
export async function profileDispatches(backend: WebGPUBackend, run: () => Promise<void>): Promise<Profile> {
  const runtime = backend.runtime;
  const device = runtime.device;
  const timestamps = runtime.features.has('timestamp-query');
  const dispatches: DispatchRecord[] = [];
  const replay: { code: string; buffers: readonly GPUBuffer[]; words: Words | number[]; groups: number[] }[] =
    [];
  const copies = { count: 0, bytes: 0 };
  const clears = { count: 0, bytes: 0 };
  const shaderNames = new Map<string, string>();
  const stack: OpCall[] = [];

  // The op of each dispatch: wrap every registered webgpu kernel.
  const originals = new Map<string, Kernel>();
  for (const op of Object.keys(webgpuKernels)) {
    const kernel = getKernel('webgpu', op);
    originals.set(op, kernel);
    const wrapped: Kernel = (
      inputs: readonly TensorInfo[],
      attrs: unknown,
      outputs: readonly OutputSpec[],
    ) => {
      stack.push({ op, inputs: inputs.map((t) => ({ shape: t.shape, dtype: t.dtype })), outputs, attrs });
      try {
        return kernel(inputs, attrs, outputs);
      } finally {
        stack.pop();
      }
    };
    registerKernel('webgpu', op, wrapped);
  }

  const sets: GPUQuerySet[] = [];
  let queries = 0;
  if (timestamps) {
    runtime.passTimestamps = () => {
      const index = queries % queriesPerSet;
      if (index === 0) sets.push(device.createQuerySet({ type: 'timestamp', count: queriesPerSet }));
      queries += 2;
      return {
        querySet: sets[sets.length - 1]!,
        beginningOfPassWriteIndex: index,
        endOfPassWriteIndex: index + 1,
      };
    };
  }
  const dispatch = runtime.dispatch;
  const copy = runtime.copy;
  const clear = runtime.clear;
  runtime.dispatch = function recorded(this: typeof runtime, code, buffers, words, groups) {
    if (groups.some((g) => g === 0)) return;
    let shader = shaderNames.get(code);
    if (shader === undefined) {
      shader = shaderKey(code) ?? caller();
      shaderNames.set(code, shader);
    }
    dispatches.push({ call: stack[stack.length - 1] ?? null, shader, groups: [...groups], ms: null });
    if (!timestamps) {
      const snapshot = 'bytes' in words ? Array.from(new Uint32Array(words.bytes.slice().buffer)) : null;
      replay.push({
        code,
        buffers: [...buffers],
        words: snapshot ?? Array.from(words as ArrayLike<number>),
        groups: [...groups],
      });
    }
    dispatch.call(this, code, buffers, words, groups);
  };
  runtime.copy = function counted(this: typeof runtime, src, dst, bytes, srcOffset, dstOffset) {
    if (bytes > 0) {
      copies.count++;
      copies.bytes += bytes;
    }
    copy.call(this, src, dst, bytes, srcOffset, dstOffset);
  };
  runtime.clear = function counted(this: typeof runtime, storage) {
    clears.count++;
    clears.bytes += storage.buffer.size;
    clear.call(this, storage);
  };

  const start = performance.now();
  try {
    await run();
    await runtime.sync();
  } finally {
    runtime.passTimestamps = null;
    for (const name of ['dispatch', 'copy', 'clear'] as const) Reflect.deleteProperty(runtime, name);
    for (const [op, kernel] of originals) registerKernel('webgpu', op, kernel);
  }
  const wallMs = performance.now() - start;

  let spanMs: number | null = null;
  if (timestamps) {
    const times = await readTimestamps(device, sets, queries);
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    dispatches.forEach((d, i) => {
      const begin = times[2 * i]!;
      const end = times[2 * i + 1]!;
      d.ms = Math.max(0, Number(end - begin) / 1e6);
      first = Math.min(first, Number(begin));
      last = Math.max(last, Number(end));
    });
    for (const set of sets) set.destroy();
    if (dispatches.length > 0) spanMs = (last - first) / 1e6;
  } else {
    for (let i = 0; i < replay.length; i++) {
      const { code, buffers, words, groups } = replay[i]!;
      await runtime.sync();
      const t0 = performance.now();
      runtime.dispatch(code, buffers, words, groups);
      await runtime.sync();
      dispatches[i]!.ms = performance.now() - t0;
    }
  }
  return {
    mode: timestamps ? 'timestamp-query' : 'wall-clock replay',
    dispatches,
    copies,
    clears,
    spanMs,
    wallMs,
  };
}

/** Resolves the first `count` queries of `sets` (in order) and reads them as nanosecond ticks. */
async function readTimestamps(device: GPUDevice, sets: GPUQuerySet[], count: number): Promise<BigInt64Array> {
  const bytes = Math.max(8, count * 8);
  const resolve = device.createBuffer({ size: bytes, usage: 0x200 | 0x04 }); // QUERY_RESOLVE | COPY_SRC
  const staging = device.createBuffer({ size: bytes, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
  const encoder = device.createCommandEncoder();
  sets.forEach((set, k) => {
    const n = Math.min(queriesPerSet, count - k * queriesPerSet);
    encoder.resolveQuerySet(set, 0, n, resolve, k * queriesPerSet * 8);
  });
  encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(0x0001); // GPUMapMode.READ
  const times = new BigInt64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  resolve.destroy();
  return times;
}
