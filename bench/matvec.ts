/**
 * Decode-shaped products on WebGPU: one token's activations [1, K] times GPT-2-small weights [N, K]ᵀ
 * (nn.Linear layout), which is what a batch-1 decode step spends its matmul time on. Memory-bound: bytes
 * = 4·N·K (the weight, read once) against the 3.7 TB/s ceiling. Usage: node dist/bench/matvec.js
 */
import { encodeMatmul, initWebGPU } from '../src/backend/webgpu/index.js';
import { noise, printTable, type Row, row, timeGpu } from './gpu-timing.js';

const backend = await initWebGPU();
const runtime = backend.runtime;
const shapes: [string, number, number][] = [
  ['attn qkv 768→2304', 768, 2304],
  ['attn proj 768→768', 768, 768],
  ['mlp up 768→3072', 768, 3072],
  ['mlp down 3072→768', 3072, 768],
  ['lm head 768→50257', 768, 50257],
];
const rows: Row[] = [];
for (const [label, k, n] of shapes) {
  const x = runtime.upload(noise(k, 7));
  const w = runtime.upload(noise(n * k, 8));
  const y = runtime.alloc(n * 4);
  const encode = () =>
    encodeMatmul(
      x.buffer,
      w.buffer,
      y,
      { m: 1, n, k, transA: false, transB: true },
      { shape: [], aStrides: [], bStrides: [] },
    );
  try {
    const seconds = await timeGpu(runtime, encode);
    rows.push(row(label, `[1,${k}]x[${n},${k}]ᵀ`, seconds, (4 * n * k) / seconds / 1e9, 'GB/s', 3700));
  } catch (error) {
    console.log(`${label}: ${(error as Error).message}`);
  }
  for (const s of [x, w, y]) runtime.release(s);
}
printTable(`decode matvec on ${backend.adapterInfo.description || backend.adapterInfo.device}`, rows);
process.exit(0);
