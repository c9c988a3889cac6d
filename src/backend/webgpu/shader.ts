/// <reference types="@webgpu/types" />
/**
 * What every kernel file shares: the runtime the kernels run on, the buffer behind a TensorInfo, and the
 * 1-D workgroup grid (folded into two dimensions past the 65535-workgroup limit).
 */
import type { TensorInfo } from '../backend.js';
import { paramPrelude } from './params.js';
import type { GpuRuntime, GpuStorage } from './runtime.js';

let current: GpuRuntime | null = null;

export function setRuntime(runtime: GpuRuntime): void {
  current = runtime;
}

export function runtime(): GpuRuntime {
  if (!current) throw new Error('the webgpu backend is not initialised (await initWebGPU() first)');
  return current;
}

/** The buffer behind a float32 or int32 tensor; a bf16-packed one is refused (see `packedBuf`). */
export function buf(info: TensorInfo): GPUBuffer {
  const storage = info.storage as GpuStorage;
  if (storage.format === 'bf16')
    throw new Error(
      `this operation cannot read a bf16-packed tensor [${info.shape.join(', ')}]: only linear layers and embeddings read packed weights (load the model with gpuWeights 'f32' to train or transform it)`,
    );
  return storage.buffer;
}

/** Whether a tensor's values are stored as bf16 pairs (GpuStorage.format). */
export function isPacked(info: TensorInfo): boolean {
  return (info.storage as GpuStorage).format === 'bf16';
}

/** The buffer behind a tensor, packed or not (for the kernels that handle both). */
export function packedBuf(info: TensorInfo): GPUBuffer {
  return (info.storage as GpuStorage).buffer;
}

/** WGSL: two bf16 values of a word as float32 (element 2i in the low half). */
export const bf16PairWGSL =
  'fn bf16x2(u: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u)); }';

/** WGSL: the float32 value of element `e` of a bf16-packed array<u32> `name`. */
export function bf16Element(name: string, e: string): string {
  return `bitcast<f32>(select(${name}[(${e}) / 2u] << 16u, ${name}[(${e}) / 2u] & 0xffff0000u, ((${e}) & 1u) == 1u))`;
}

/** A fresh storage for `elements` 32-bit values. */
export function alloc(elements: number): GpuStorage {
  return runtime().alloc(elements * 4);
}

const shaderCache = new Map<string, string>();
/** The key of each memoised shader, by its source (for profiles). */
const shaderKeys = new Map<string, string>();

/**
 * Builds a shader once per key: kernels generate WGSL per variant, and handing the runtime the same
 * string object keeps its pipeline lookup from hashing kilobytes of source on every dispatch.
 */
export function memoShader(key: string, build: () => string): string {
  let code = shaderCache.get(key);
  if (code === undefined) {
    code = build();
    shaderCache.set(key, code);
    shaderKeys.set(code, key);
  }
  return code;
}

/** The memoShader key a shader was built under (undefined for shaders built otherwise). */
export function shaderKey(code: string): string | undefined {
  return shaderKeys.get(code);
}

const maxGroups = 65535;

/** Workgroup grid for `groups` workgroups along one logical axis. */
export function grid(groups: number): [number, number] {
  if (groups <= maxGroups) return [groups, 1];
  return [maxGroups, Math.ceil(groups / maxGroups)];
}

/** Kernel header: the parameter block plus `gid`, the linear workgroup index of a `grid()` dispatch. */
export const header = /* wgsl */ `${paramPrelude}
fn linearGroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }
// -inf and NaN: WGSL constant expressions cannot hold them, so the bits pass through a runtime value.
fn negInf() -> f32 { return bitcast<f32>(0xff800000u + min(pu(0), 0u)); }
fn nan() -> f32 { return bitcast<f32>(0x7fc00000u + min(pu(0), 0u)); }
`;

/** Builtins of a 1-D kernel's entry point. */
export const entryArgs =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
