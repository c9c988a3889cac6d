/**
 * Worker of the cpu backend's thread pool (threads.ts): computes a range of columns j of C = A·Bᵀ with
 * exactly the arithmetic of the single-threaded kernel (matmul.ts: four accumulators over k, in the
 * same order), so results are bit-identical however the work is split. Node only.
 */
import { parentPort } from 'node:worker_threads';
import { rowDots } from './row-dots.js';

export interface RowDotsJob {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  m: number;
  n: number;
  k: number;
  j0: number;
  j1: number;
  /** [0]: finished workers (incremented and notified when this range is done). */
  done: Int32Array;
}

parentPort!.on('message', (job: RowDotsJob) => {
  rowDots(job.a, 0, job.b, 0, job.c, 0, job.m, job.n, job.k, job.j0, job.j1);
  Atomics.add(job.done, 0, 1);
  Atomics.notify(job.done, 0);
});
