/// <reference types="@webgpu/types" />
/**
 * bf16 weight packing on the device, for the planned decode step: float32 tensors are packed two per
 * u32 with the host's rounding (`bf16Bits` in half.ts: round to nearest even, NaN kept quiet) by a
 * kernel instead of a read-back, a host loop and an upload — for a 1B model that was 5 GB through the
 * host and half a minute. `bf16Exact` asks the same of the device: whether every value already is a
 * bf16 (its low 16 bits zero), so packing loses nothing.
 */
import type { GpuRuntime } from '../runtime.js';

const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
const maxGroups = 65535;

/** Workgroups for `items` at 256 per group, folded into a second grid dimension past 65535. */
function grid(items: number): [number, number] {
  const groups = Math.max(1, Math.ceil(items / 256));
  return groups > maxGroups ? [maxGroups, Math.ceil(groups / maxGroups)] : [groups, 1];
}

const indexWGSL = /* wgsl */ `let i = (wid.y * nwg.x + wid.x) * 256u + lid;`;

const packShader = /* wgsl */ `@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> count: vec4<u32>;
fn bf16(x: u32) -> u32 {
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu) != 0u) { return (x >> 16u) | 0x40u; }
  return ((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) & 0xffffu;
}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${indexWGSL}
  if (i < count.x) { dst[i] = bf16(src[2u * i]) | (bf16(src[2u * i + 1u]) << 16u); }
}`;

const exactShader = /* wgsl */ `@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> count: vec4<u32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${indexWGSL}
  if (i < count.x && (src[i] & 0xffffu) != 0u) { atomicOr(&flag[0], 1u); }
}`;

function run(
  runtime: GpuRuntime,
  code: string,
  src: GPUBufferBinding,
  dst: GPUBuffer | GPUBufferBinding,
  items: number,
  encoder: GPUCommandEncoder,
  temporaries: GPUBuffer[],
): void {
  const device = runtime.device;
  const pipeline = runtime.pipeline(code);
  const count = device.createBuffer({ size: 16, usage: 0x40 | COPY_DST }); // UNIFORM
  device.queue.writeBuffer(count, 0, new Uint32Array([items, 0, 0, 0]));
  temporaries.push(count);
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: src },
      { binding: 1, resource: 'buffer' in dst ? dst : { buffer: dst } },
      { binding: 2, resource: { buffer: count } },
    ],
  });
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  const [x, y] = grid(items);
  pass.dispatchWorkgroups(x, y);
  pass.end();
}

/**
 * Packs each source into a buffer from `allocate` in one submit; `place` may then copy the packed
 * bytes on (in the same encoder). Buffers listed in `temporaries` are destroyed once the work is done.
 */
function packEach<T extends GPUBuffer | GPUBufferBinding>(
  runtime: GpuRuntime,
  sources: readonly { binding: GPUBufferBinding; elements: number }[],
  allocate: (bytes: number, temporaries: GPUBuffer[]) => T,
  place?: (encoder: GPUCommandEncoder, packed: T, bytes: number) => void,
): T[] {
  runtime.flush(); // the tensors' pending writes come first
  const encoder = runtime.device.createCommandEncoder();
  const temporaries: GPUBuffer[] = [];
  const out = sources.map(({ binding, elements }) => {
    if (elements % 2 !== 0) throw new Error('16-bit packing needs an even number of values');
    const dst = allocate(elements * 2, temporaries);
    run(runtime, packShader, binding, dst, elements / 2, encoder, temporaries);
    place?.(encoder, dst, elements * 2);
    return dst;
  });
  runtime.device.queue.submit([encoder.finish()]);
  void runtime.device.queue.onSubmittedWorkDone().then(() => {
    for (const t of temporaries) t.destroy();
  });
  return out;
}

/**
 * bf16 copies of float32 tensors (each `elements` long, even), made on the device; `allocate` gives
 * the destination buffers (the caller owns them).
 */
export function packBf16OnDevice(
  runtime: GpuRuntime,
  sources: readonly { binding: GPUBufferBinding; elements: number }[],
  allocate: (bytes: number) => GPUBufferBinding,
): GPUBufferBinding[] {
  return packEach(runtime, sources, (bytes) => allocate(bytes));
}

/**
 * One bf16 copy of several float32 tensors back to back in `dst` (the stacked experts of a MoE layer):
 * each is packed into a temporary and copied to its place, so no float32 stack is ever made.
 */
export function packBf16StackOnDevice(
  runtime: GpuRuntime,
  sources: readonly { binding: GPUBufferBinding; elements: number }[],
  dst: GPUBuffer,
): void {
  let offset = 0;
  packEach(
    runtime,
    sources,
    (bytes, temporaries) => {
      const packed = runtime.device.createBuffer({ size: bytes, usage: STORAGE | COPY_SRC });
      temporaries.push(packed);
      return packed;
    },
    (encoder, packed, bytes) => {
      encoder.copyBufferToBuffer(packed, 0, dst, offset, bytes);
      offset += bytes;
    },
  );
}

/** Whether every value of the float32 tensors is exactly a bfloat16 (low 16 bits zero). */
export async function bf16ExactOnDevice(
  runtime: GpuRuntime,
  sources: readonly { binding: GPUBufferBinding; elements: number }[],
): Promise<boolean> {
  const device = runtime.device;
  runtime.flush();
  const flag = device.createBuffer({ size: 16, usage: STORAGE | COPY_SRC | COPY_DST });
  const read = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
  const temporaries: GPUBuffer[] = [flag, read];
  try {
    const encoder = device.createCommandEncoder();
    for (const { binding, elements } of sources)
      run(runtime, exactShader, binding, flag, elements, encoder, temporaries);
    encoder.copyBufferToBuffer(flag, 0, read, 0, 16);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(MAP_READ);
    const any = new Uint32Array(read.getMappedRange(0, 4))[0]!;
    read.unmap();
    return any === 0;
  } finally {
    for (const t of temporaries) t.destroy();
  }
}
