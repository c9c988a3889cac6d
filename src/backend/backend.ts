/**
 * The backend contract and kernel registry. A backend owns memory (opaque storage handles) and
 * registers kernels by op name; ops in src/ops call kernels through `runKernel` and never touch memory
 * themselves, so a new backend plugs in without changes to ops, autograd or the model.
 */
import type { DType, TypedArray } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';

/** What a kernel sees of an input tensor: its storage (backend-specific), shape and element type. */
export interface TensorInfo {
  readonly storage: unknown;
  readonly shape: Shape;
  readonly dtype: DType;
}

/** Shape and type of an output a kernel must produce. */
export interface OutputSpec {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A kernel computes outputs (fresh storages, one per spec) from inputs and attributes. */
export type Kernel<A = any> = (
  inputs: readonly TensorInfo[],
  attrs: A,
  outputs: readonly OutputSpec[],
) => unknown[];

export interface Backend {
  readonly name: string;
  supportsDType(dtype: DType): boolean;
  /** Copies host data into a new storage. */
  upload(data: TypedArray): unknown;
  /** A new zero-filled storage. */
  zeros(size: number, dtype: DType): unknown;
  /** Copies a storage back to the host. */
  read(info: TensorInfo): Promise<TypedArray>;
  /** Synchronous read; only backends with host-visible memory (cpu) provide it. */
  readSync?(info: TensorInfo): TypedArray;
  /** Copies `src` into `dst` (same size and dtype): used for in-place parameter updates. */
  copyInto(dst: TensorInfo, src: TensorInfo): void;
  free(storage: unknown): void;
  /** Waits until submitted work has finished (GPU); resolves at once on cpu. */
  sync(): Promise<void>;
}

const kernels = new Map<string, Map<string, Kernel>>();
const backends = new Map<string, Backend>();
let current: Backend | null = null;

export function registerKernel<A>(backend: string, op: string, kernel: Kernel<A>): void {
  let table = kernels.get(backend);
  if (!table) {
    table = new Map();
    kernels.set(backend, table);
  }
  table.set(op, kernel as Kernel);
}

export function getKernel(backend: string, op: string): Kernel {
  const kernel = kernels.get(backend)?.get(op);
  if (!kernel) throw new Error(`op '${op}' has no kernel on backend '${backend}'`);
  return kernel;
}

export function hasKernel(backend: string, op: string): boolean {
  return kernels.get(backend)?.has(op) ?? false;
}

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
  current ??= backend;
}

export function findBackend(name: string): Backend | undefined {
  return backends.get(name);
}

export function getBackend(): Backend {
  if (!current) throw new Error('no backend is registered (import slmkit, which registers the cpu backend)');
  return current;
}

/** Makes a registered backend the default for new tensors. */
export function setBackend(name: string): Backend {
  const backend = backends.get(name);
  if (!backend) {
    throw new Error(`backend '${name}' is not available (registered: ${[...backends.keys()].join(', ')})`);
  }
  current = backend;
  return backend;
}
