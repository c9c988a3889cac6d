/**
 * Worker of the cpu backend's thread pool (threads.ts): computes a range of output columns of a matmul
 * with the single-threaded kernel's loops (row-dots.ts), so results are bit-identical however the work
 * is split. Node only.
 */
import { parentPort } from 'node:worker_threads';
import { gemmColumns } from './row-dots.js';

export interface MatmulJob {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  skip: boolean;
  j0: number;
  j1: number;
  /** [0]: finished workers (incremented and notified when this range is done). */
  done: Int32Array;
}

parentPort!.on('message', (job: MatmulJob) => {
  const { a, b, c, m, n, k, transA, transB, skip, j0, j1 } = job;
  gemmColumns(a, 0, b, 0, c, 0, m, n, k, transA, transB, skip, j0, j1);
  Atomics.add(job.done, 0, 1);
  Atomics.notify(job.done, 0);
});
