/**
 * Tensor: a shape, an element type and a reference-counted storage on one backend, plus the autograd
 * fields (requiresGrad, grad, gradFn). Tensors are contiguous and row-major; `reshape` shares storage.
 * Memory is managed with scopes: every tensor created inside `scope(fn)` is freed when fn returns,
 * except the tensors fn returns and those marked with `keep()`.
 */
import { type Backend, getBackend, type TensorInfo } from '../backend/backend.js';
import type { DType, TypedArray } from './dtype.js';
import { formatShape, type Shape, sizeOf } from './shape.js';

/** The record autograd keeps for a tensor produced by a differentiable op. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients with respect to each input (null where the input needs none). */
  backward(dy: Tensor): (Tensor | null)[];
}

class StorageRef {
  refs = 1;
  constructor(
    readonly storage: unknown,
    readonly backend: Backend,
  ) {}
  release(): void {
    if (--this.refs === 0) this.backend.free(this.storage);
  }
}

const scopeStack: Set<Tensor>[] = [];
let liveTensors = 0;

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;
  name: string | undefined;
  private ref: StorageRef | null;
  private kept = false;

  constructor(
    storage: unknown | StorageRef,
    shape: Shape,
    readonly dtype: DType,
    readonly backend: Backend = getBackend(),
  ) {
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.ref = storage instanceof StorageRef ? storage : new StorageRef(storage, backend);
    liveTensors++;
    scopeStack[scopeStack.length - 1]?.add(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.ref === null;
  }

  get storage(): unknown {
    if (!this.ref) throw new Error(`tensor ${this.describe()} was used after it was disposed`);
    return this.ref.storage;
  }

  info(): TensorInfo {
    return { storage: this.storage, shape: this.shape, dtype: this.dtype };
  }

  /** A tensor of another shape over the same storage (no copy). */
  view(shape: Shape): Tensor {
    if (!this.ref) throw new Error(`tensor ${this.describe()} was used after it was disposed`);
    this.ref.refs++;
    return new Tensor(this.ref, shape, this.dtype, this.backend);
  }

  async data(): Promise<TypedArray> {
    return this.backend.read(this.info());
  }

  /** Synchronous read; only on backends with host-visible memory (cpu). */
  dataSync(): TypedArray {
    if (!this.backend.readSync) {
      throw new Error(`backend '${this.backend.name}' cannot be read synchronously; use await tensor.data()`);
    }
    return this.backend.readSync(this.info());
  }

  async toArray(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1)
      throw new Error(`item() needs a one-element tensor, got shape ${formatShape(this.shape)}`);
    return (await this.data())[0]!;
  }

  itemSync(): number {
    if (this.size !== 1)
      throw new Error(`item() needs a one-element tensor, got shape ${formatShape(this.shape)}`);
    return this.dataSync()[0]!;
  }

  /** Exempts this tensor from scope cleanup (parameters, optimizer state, caches). */
  keep(): this {
    this.kept = true;
    return this;
  }

  get isKept(): boolean {
    return this.kept;
  }

  dispose(): void {
    if (!this.ref) return;
    this.ref.release();
    this.ref = null;
    liveTensors--;
  }

  describe(): string {
    return `${this.name ? `'${this.name}' ` : ''}${formatShape(this.shape)} ${this.dtype}`;
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }
}

/** Number of tensors created and not yet disposed (for leak tests). */
export function liveTensorCount(): number {
  return liveTensors;
}

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, into, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
  }
}

function closeScope(created: Set<Tensor>, result: unknown): void {
  const returned = new Set<Tensor>();
  collectTensors(result, returned);
  const parent = scopeStack[scopeStack.length - 1];
  for (const t of created) {
    if (returned.has(t) || t.isKept) parent?.add(t);
    else t.dispose();
  }
}

/** Runs fn and frees every tensor it created except those it returns (moved to the enclosing scope). */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopeStack.push(created);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    // Free what fn made before it threw (kept tensors still move to the enclosing scope).
    scopeStack.pop();
    closeScope(created, undefined);
    throw error;
  }
  scopeStack.pop();
  closeScope(created, result);
  return result;
}

/** Async form of `scope`: tensors created while fn's promise is pending are tracked. */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const created = new Set<Tensor>();
  scopeStack.push(created);
  const leave = () => {
    const i = scopeStack.lastIndexOf(created);
    if (i >= 0) scopeStack.splice(i, 1);
  };
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    leave();
    closeScope(created, undefined);
    throw error;
  }
  leave();
  closeScope(created, result);
  return result;
}
