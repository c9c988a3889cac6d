/**
 * Threads for the cpu backend's matmuls (Node only; browsers keep one thread). `enableCpuThreads`
 * starts a pool of workers; from then on large float32 tensors the backend stores live in
 * SharedArrayBuffers, and a large product splits its output columns (a linear layer's output features)
 * across the workers and the calling thread, which blocks (Atomics.wait) until they finish: kernels
 * stay synchronous. Every output element is computed by the same loop as on one thread, so the
 * results are bit-identical to the single-threaded kernel (the cpu backend stays the oracle).
 */
import { gemmColumns } from './row-dots.js';

interface PoolWorker {
  postMessage(message: unknown): void;
  terminate(): Promise<number>;
  unref(): void;
  on(event: 'error' | 'exit', listener: (value: unknown) => void): void;
}

interface Pool {
  workers: PoolWorker[];
  done: Int32Array;
  /** Set when a worker fails or exits: the waiting thread stops waiting and throws it. */
  failure: Error | null;
}

let pool: Pool | null = null;

/** Products smaller than this (rows of B × k) run on one thread: the hand-off costs ~0.1 ms. */
const minWork = 1 << 17;
/** Float32 tensors at least this long are stored shared while threads are on. */
const minShared = 1 << 14;
/** Multiply-adds from which a product whose operands must first be copied is split. */
const minCopiedWork = 1 << 21;

/**
 * Starts `threads − 1` workers (default: the machine's parallelism, or SLM_CPU_THREADS; 1 = none).
 * Returns the threads in use. Node only: elsewhere (browsers) it returns 1.
 */
export async function enableCpuThreads(threads?: number): Promise<number> {
  if (pool) return pool.workers.length + 1;
  if (typeof process === 'undefined' || !process.versions?.node) return 1;
  const os = await import('node:os');
  const env = Number(process.env.SLM_CPU_THREADS);
  const wanted = threads ?? (Number.isInteger(env) && env > 0 ? env : os.availableParallelism());
  if (!Number.isInteger(wanted) || wanted < 1)
    throw new Error(`threads must be a positive integer, got ${wanted}`);
  if (wanted === 1) return 1;
  const { Worker } = await import('node:worker_threads');
  const url = new URL('./matmul-worker.js', import.meta.url);
  const created: Pool = { workers: [], done: new Int32Array(new SharedArrayBuffer(4)), failure: null };
  for (let i = 0; i < wanted - 1; i++) {
    const worker = new Worker(url) as unknown as PoolWorker;
    worker.unref(); // the pool never keeps the process alive
    const fail = (why: string) => {
      created.failure ??= new Error(
        `a cpu worker thread ${why}; threads are off from here (SLM_CPU_THREADS=1)`,
      );
      if (pool === created) pool = null; // later products run on this thread
    };
    worker.on('error', (e) => fail(`failed: ${(e as Error).message}`));
    worker.on('exit', () => fail('exited'));
    created.workers.push(worker);
  }
  pool = created;
  return wanted;
}

/** Stops the pool (tests, and processes that want their threads back). */
export async function disableCpuThreads(): Promise<void> {
  const p = pool;
  pool = null;
  if (p) {
    p.failure = new Error('the cpu thread pool was stopped');
    await Promise.all(p.workers.map((w) => w.terminate()));
  }
}

/** A copy of `data` in a SharedArrayBuffer when threads are on and it is a large Float32Array. */
export function maybeShared<T extends ArrayLike<number>>(data: T): T {
  if (!pool || !(data instanceof Float32Array) || data.length < minShared) return data;
  if (data.buffer instanceof SharedArrayBuffer) return data;
  const shared = new Float32Array(new SharedArrayBuffer(data.byteLength));
  shared.set(data);
  return shared as unknown as T;
}

/**
 * C = op(A)·op(B) for one batch (float32, offsets 0) across the pool, split by output columns, when the
 * pool is on and the product is large: an A·Bᵀ whose B is already shared (a linear layer's weight)
 * from 2^17 weights up, any other form from 2^20 multiply-adds (its operands are copied into shared
 * memory first). Returns null otherwise, and the caller runs its own loop. `skipZeros` is asked only
 * for the forms that use it.
 */
export function parallelMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  skipZeros: () => boolean,
): Float32Array | null {
  const p = pool;
  if (!p || n < 2) return null;
  const bShared = b.buffer instanceof SharedArrayBuffer;
  const large = !transA && transB && bShared ? n * k >= minWork : m * n * k >= minCopiedWork;
  if (!large) return null;
  const sa = a.buffer instanceof SharedArrayBuffer ? a : sharedCopy(a);
  const sb = bShared ? b : sharedCopy(b);
  const skip = transB ? false : skipZeros();
  const c = new Float32Array(new SharedArrayBuffer(m * n * 4));
  const parts = p.workers.length + 1;
  const step = Math.ceil(n / parts);
  const done = p.done;
  Atomics.store(done, 0, 0);
  let posted = 0;
  for (let w = 0; w < p.workers.length; w++) {
    const j0 = (w + 1) * step;
    const j1 = Math.min(n, j0 + step);
    if (j0 >= j1) break;
    p.workers[w]!.postMessage({ a: sa, b: sb, c, m, n, k, transA, transB, skip, j0, j1, done });
    posted++;
  }
  gemmColumns(sa, 0, sb, 0, c, 0, m, n, k, transA, transB, skip, 0, Math.min(n, step)); // this thread's share
  // Wait for the workers a second at a time. A worker that died cannot say so while this thread
  // blocks (its 'error' and 'exit' events need the event loop), so waiting is bounded by a generous
  // time for the work (10M multiply-adds a second per thread, plus two minutes).
  const limit = 120 + (m * n * k) / parts / 1e7;
  let idle = 0;
  for (let seen = Atomics.load(done, 0); seen < posted; seen = Atomics.load(done, 0)) {
    if (p.failure) throw p.failure;
    if (Atomics.wait(done, 0, seen, 1000) === 'timed-out' && ++idle >= limit) {
      pool = null; // later products run on this thread
      throw new Error('cpu worker threads did not finish a product; threads are off from here');
    }
  }
  return c;
}

function sharedCopy(a: Float32Array): Float32Array {
  const shared = new Float32Array(new SharedArrayBuffer(a.byteLength));
  shared.set(a);
  return shared;
}
