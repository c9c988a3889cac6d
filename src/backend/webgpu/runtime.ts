/// <reference types="@webgpu/types" />
/**
 * The WebGPU runtime under the backend: a buffer pool, a pipeline cache and one open command encoder
 * that kernels append dispatches to (one compute pass, submitted in batches).
 *
 * Ordering rule that makes the pool safe: a freed buffer may still be read by dispatches encoded but not
 * yet submitted, so it only returns to the pool at the next submit; after that, `queue.writeBuffer` and
 * new dispatches are ordered behind the work that used it.
 */
import type { SubgroupMatrixConfig } from './gpu.js';
import { OldestFirst } from './oldest-first.js';
import { ParamWriter, paramBytes, type Words } from './params.js';

/** The storage of one tensor: a pooled buffer of at least `byteSize` bytes. */
export interface GpuStorage {
  readonly buffer: GPUBuffer;
  readonly byteSize: number;
  /**
   * 'bf16': the tensor's float32 values are stored as bf16 pairs, element 2i in the low half of word i
   * (a bf16 checkpoint's matrices, loaded without a float32 copy). Only the kernels that read weights
   * (matmul's B operand with transB, the embedding gather) and the planned decode accept it.
   */
  readonly format?: 'bf16';
}

/** Buffer capacity classes: 256 B minimum, then 8 steps per power of two (at most 12.5% slack). */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(pow / 8, 256);
  return Math.ceil(bytes / step) * step;
}

const storageUsage = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
/**
 * Bind groups the runtime keeps for reuse. Creating one is most of an eager dispatch's host cost (27 µs
 * on the H200 machine's host against 6 µs to encode the dispatch); a step repeated with the same
 * shapes (a training step, a prompt of the same length) binds the same pooled buffers again.
 */
const maxCachedBindGroups = 8192;

/** A compiled eager kernel: the pipeline, and how its bind groups are made. */
interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /**
   * Bindings of an explicit layout whose parameter block (binding 0) takes a dynamic offset, so that
   * its bind groups depend on the buffers alone and are cached; 0 for an 'auto' layout (not cached).
   */
  bindings: number;
  id: number;
}

/**
 * The storage bindings 1… of a kernel's WGSL when it declares binding 0 as the uniform parameter block
 * and storage buffers after it, all in group 0 and numbered without gaps (every eager kernel does);
 * null otherwise.
 */
export function storageBindings(code: string): ('read-only-storage' | 'storage')[] | null {
  if (/@group\(\s*[1-9]/.test(code)) return null;
  const found = new Map<number, string>();
  for (const m of code.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<([a-z_]+)(?:\s*,\s*([a-z_]+))?>/g))
    found.set(Number(m[1]), m[3] ? `${m[2]},${m[3]}` : m[2]!);
  if (found.get(0) !== 'uniform') return null;
  const types: ('read-only-storage' | 'storage')[] = [];
  for (let i = 1; i < found.size; i++) {
    const kind = found.get(i);
    if (kind === 'storage,read') types.push('read-only-storage');
    else if (kind === 'storage,read_write') types.push('storage');
    else return null;
  }
  return types;
}
const dispatchesPerSubmit = 512;
/**
 * Submits after a wait start small and double up to dispatchesPerSubmit: the GPU is idle after a
 * read-back, and a training step's first 512 dispatches (the whole forward pass) took milliseconds of
 * host encoding before the GPU got any of them.
 */
const firstSubmitAfterIdle = 16;
const flushToReuseBytes = 1 << 20;

export class GpuRuntime {
  readonly device: GPUDevice;
  readonly features: ReadonlySet<string>;
  /** Free buffers by size class, the oldest first (OldestFirst). */
  private readonly pool = new Map<number, OldestFirst<GPUBuffer>>();
  private releasedSinceSubmit: GpuStorage[] = [];
  private readonly pipelines = new Map<
    string,
    { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }
  >();
  private readonly kernels = new Map<string, Compiled>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextId = 0;
  /** Eager dispatches whose bind group came from the cache, and all eager dispatches (for benchmarks). */
  readonly bindGroupStats = { reused: 0, dispatches: 0 };
  /** Whether eager dispatches keep their bind groups for reuse (off: one made per dispatch; benchmarks). */
  keepBindGroups = true;
  /** Bytes in use of each pooled buffer: bindings cover those, not the size class (binding limits). */
  private readonly liveBytes = new WeakMap<GPUBuffer, number>();
  /**
   * Sizes of the buffers this runtime created: `GPUBuffer.size` is a native getter (in Node a call
   * into Dawn's binding, ~1 µs), and the pool, `flush` and every dispatch's bindings ask for it.
   */
  private readonly capacities = new WeakMap<GPUBuffer, number>();

  private capacityOf(buffer: GPUBuffer): number {
    return this.capacities.get(buffer) ?? buffer.size;
  }
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly params: ParamWriter;
  private readonly paramBuffer: GPUBuffer;
  private pendingDispatches = 0;

  /** Whether commands are encoded and not yet submitted (`flush` submits them). */
  get pending(): boolean {
    return this.encoder !== null;
  }
  private submitAfter = firstSubmitAfterIdle;
  private errors: string[] = [];
  /** Bytes held by live and pooled buffers. */
  allocatedBytes = 0;
  /**
   * Profiling hook (see profiler.ts): when set, every dispatch runs in a compute pass of its own that
   * writes the timestamps this returns. Separate passes add a barrier between dispatches, which eager
   * kernels (each reading the previous one's output) need anyway.
   */
  passTimestamps: (() => GPUComputePassTimestampWrites) | null = null;
  /** Tensor-core shapes of the adapter (empty without chromium-experimental-subgroup-matrix). */
  readonly subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
  readonly subgroupMaxSize: number;
  /** The adapter's smallest subgroup size (0 when unknown). */
  readonly subgroupMinSize: number;

  constructor(
    device: GPUDevice,
    adapterInfo: {
      subgroupMatrixConfigs?: SubgroupMatrixConfig[];
      subgroupMaxSize?: number;
      subgroupMinSize?: number;
    } = {},
  ) {
    this.device = device;
    this.features = new Set(device.features);
    this.subgroupMatrixConfigs = this.features.has('chromium-experimental-subgroup-matrix')
      ? (adapterInfo.subgroupMatrixConfigs ?? [])
      : [];
    this.subgroupMaxSize = adapterInfo.subgroupMaxSize ?? 0;
    this.subgroupMinSize = adapterInfo.subgroupMinSize ?? 0;
    const align = Math.max(device.limits.minUniformBufferOffsetAlignment, paramBytes);
    this.params = new ParamWriter(dispatchesPerSubmit, align);
    this.paramBuffer = device.createBuffer({ size: this.params.capacityBytes, usage: 0x40 | 0x08 }); // UNIFORM | COPY_DST
    device.addEventListener('uncapturederror', (event) => {
      this.errors.push((event as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** A buffer of at least `bytes` bytes, from the pool when one of its size class is free. */
  alloc(bytes: number): GpuStorage {
    const capacity = sizeClass(bytes);
    let buffer = this.pool.get(capacity)?.pop();
    // A large buffer freed since the last submit is reusable once that work is submitted: submitting
    // early beats growing memory by one buffer per pending step (an unsynced training or timing loop).
    if (
      !buffer &&
      capacity >= flushToReuseBytes &&
      this.releasedSinceSubmit.some((s) => this.capacityOf(s.buffer) === capacity)
    ) {
      this.flush();
      buffer = this.pool.get(capacity)?.pop();
    }
    const storage = { buffer: buffer ?? this.createBuffer(capacity), byteSize: bytes };
    this.liveBytes.set(storage.buffer, bytes);
    return storage;
  }

  private createBuffer(capacity: number): GPUBuffer {
    this.allocatedBytes += capacity;
    const buffer = this.device.createBuffer({ size: capacity, usage: storageUsage });
    this.capacities.set(buffer, capacity);
    this.bufferId(buffer); // numbered in creation order
    return buffer;
  }

  release(storage: GpuStorage): void {
    this.releasedSinceSubmit.push(storage);
  }

  /** Destroys every pooled (free) buffer. */
  trim(): void {
    this.flush();
    this.bindGroups.clear();
    for (const list of this.pool.values()) {
      for (const buffer of list.values()) {
        this.allocatedBytes -= this.capacityOf(buffer);
        buffer.destroy();
      }
    }
    this.pool.clear();
  }

  /** The pipeline for a WGSL module (cached by its source text). */
  pipeline(code: string): GPUComputePipeline {
    return this.compiled(code).pipeline;
  }

  private compiled(code: string): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let entry = this.pipelines.get(code);
    if (!entry) {
      const module = this.device.createShaderModule({ code });
      const pipeline = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      entry = { pipeline, layout: pipeline.getBindGroupLayout(0) };
      this.pipelines.set(code, entry);
    }
    return entry;
  }

  /**
   * The pipeline an eager dispatch runs: with an explicit layout whose parameter block takes a dynamic
   * offset where the WGSL allows (storageBindings), else the 'auto' one.
   */
  private kernel(code: string): Compiled {
    let entry = this.kernels.get(code);
    if (!entry) {
      const types = storageBindings(code);
      if (types) {
        const visibility = 0x4; // GPUShaderStage.COMPUTE
        const layout = this.device.createBindGroupLayout({
          entries: [
            { binding: 0, visibility, buffer: { type: 'uniform', hasDynamicOffset: true } },
            ...types.map((type, i) => ({ binding: i + 1, visibility, buffer: { type } })),
          ],
        });
        const module = this.device.createShaderModule({ code });
        const pipeline = this.device.createComputePipeline({
          layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        });
        entry = { pipeline, layout, bindings: types.length + 1, id: this.nextId++ };
      } else {
        entry = { ...this.compiled(code), bindings: 0, id: this.nextId++ };
      }
      this.kernels.set(code, entry);
    }
    return entry;
  }

  private bufferId(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.commandEncoder();
  }

  /**
   * Appends one dispatch: binding 0 is the parameter block (32-bit words), bindings 1.. are `buffers`
   * in order. `groups` is the workgroup grid.
   */
  dispatch(
    code: string,
    buffers: readonly GPUBuffer[],
    words: Words | ArrayLike<number>,
    groups: readonly number[],
  ): void {
    if (groups.some((g) => g === 0)) return;
    if (this.params.full) this.flush();
    let kernel = this.kernel(code);
    // A caller binding fewer buffers than the WGSL declares (one it does not use) gets the 'auto' layout.
    if (kernel.bindings !== 0 && kernel.bindings !== buffers.length + 1)
      kernel = { ...this.compiled(code), bindings: 0, id: -1 };
    const offset = this.params.push(words);
    const dynamic = kernel.bindings !== 0; // the parameter block's offset is given at setBindGroup
    const cached = dynamic && this.keepBindGroups;
    const sizes = buffers.map((buffer) => {
      const capacity = this.capacityOf(buffer);
      const bytes = this.liveBytes.get(buffer) ?? capacity;
      const size = Math.min(capacity, Math.max(16, Math.ceil(bytes / 16) * 16));
      if (size > this.device.limits.maxStorageBufferBindingSize) {
        throw new Error(
          `a ${bytes}-byte tensor exceeds this adapter's storage binding limit of ${this.device.limits.maxStorageBufferBindingSize} bytes`,
        );
      }
      return size;
    });
    let key = '';
    let bindGroup: GPUBindGroup | undefined;
    if (cached) {
      key = `${kernel.id}`;
      for (let i = 0; i < buffers.length; i++) key += ` ${this.bufferId(buffers[i]!)}:${sizes[i]}`;
      bindGroup = this.bindGroups.get(key);
    }
    this.bindGroupStats.dispatches++;
    if (bindGroup) this.bindGroupStats.reused++;
    else {
      const entries: GPUBindGroupEntry[] = [
        {
          binding: 0,
          resource: { buffer: this.paramBuffer, offset: dynamic ? 0 : offset, size: paramBytes },
        },
        ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer, size: sizes[i]! } })),
      ];
      bindGroup = this.device.createBindGroup({ layout: kernel.layout, entries });
      if (cached) {
        if (this.bindGroups.size >= maxCachedBindGroups) this.bindGroups.clear();
        this.bindGroups.set(key, bindGroup);
      }
    }
    if (this.passTimestamps) {
      this.endPass();
      this.pass = this.commandEncoder().beginComputePass({ timestampWrites: this.passTimestamps() });
    }
    this.pass ??= this.commandEncoder().beginComputePass();
    this.pass.setPipeline(kernel.pipeline);
    if (dynamic) this.pass.setBindGroup(0, bindGroup, [offset]);
    else this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(groups[0]!, groups[1] ?? 1, groups[2] ?? 1);
    if (this.passTimestamps) this.endPass();
    if (++this.pendingDispatches >= this.submitAfter) this.flush();
  }

  clear(storage: GpuStorage): void {
    this.endPass().clearBuffer(storage.buffer);
  }

  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    if (bytes > 0) this.endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  upload(data: ArrayBufferView): GpuStorage {
    const storage = this.alloc(data.byteLength);
    if (data.byteLength > 0)
      this.device.queue.writeBuffer(storage.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return storage;
  }

  /** Submits everything encoded so far; freed buffers return to the pool. */
  flush(): void {
    if (this.encoder) {
      this.endPass();
      if (this.params.usedBytes > 0) {
        this.device.queue.writeBuffer(this.paramBuffer, 0, this.params.bytes, 0, this.params.usedBytes);
      }
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.submitAfter = Math.min(dispatchesPerSubmit, 2 * this.submitAfter);
    }
    this.params.reset();
    this.pendingDispatches = 0;
    for (const storage of this.releasedSinceSubmit) {
      const capacity = this.capacityOf(storage.buffer);
      let list = this.pool.get(capacity);
      if (!list) {
        list = new OldestFirst<GPUBuffer>();
        this.pool.set(capacity, list);
      }
      // The oldest free buffer goes out first: the same sequence of allocations then gets the same
      // buffers whatever ran before it, and binds them with the bind groups kept from last time (a
      // prompt of the same padded length, a training step).
      list.push(storage.buffer, this.bufferId(storage.buffer));
    }
    this.releasedSinceSubmit = [];
  }

  /** Throws the first uncaptured device error (shader compile, validation) seen since the last check. */
  checkErrors(): void {
    if (this.errors.length > 0) {
      const message = this.errors.join('\n');
      this.errors = [];
      throw new Error(`WebGPU error: ${message}`);
    }
  }

  /**
   * Tells the runtime the GPU has run dry (or is about to): the work encoded next goes in small
   * submits first, so that the GPU starts on it while the host encodes the rest. `read` and `sync`
   * do this themselves; a caller that waits on the GPU another way (a plan's own read-back) calls it.
   */
  idle(): void {
    this.submitAfter = firstSubmitAfterIdle;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.submitAfter = firstSubmitAfterIdle;
    this.checkErrors();
  }

  /** Copies `bytes` from a storage to the host through a mappable staging buffer. */
  async read(storage: GpuStorage, bytes: number = storage.byteSize): Promise<ArrayBuffer> {
    if (bytes === 0) return new ArrayBuffer(0);
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
    this.copy(storage.buffer, staging, size);
    this.flush();
    await staging.mapAsync(0x0001); // GPUMapMode.READ
    this.submitAfter = firstSubmitAfterIdle;
    const result = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.checkErrors();
    return result;
  }
}
