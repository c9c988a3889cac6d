/**
 * Attention forward through the op layer on WebGPU (ops.attention: QKᵀ matmul, scale, causal mask,
 * softmax, PV matmul; five kernels, the mask built on the host) at the GPT-2 small shape.
 * FLOPs = 4·B·H·T²·D (both products in full, as the unfused path computes them). Ceiling 67 TFLOP/s f32.
 * Usage: node dist/bench/attention.js [batch] [heads] [seq] [headDim]
 */
import { initWebGPU } from '../src/backend/webgpu/index.js';
import * as ops from '../src/ops/index.js';
import { scope } from '../src/tensor/tensor.js';
import { noise, printTable, row, timeGpu } from './gpu-timing.js';

const [b, h, t, d] = [8, 12, 1024, 64].map((v, i) => Number(process.argv[2 + i] ?? v)) as [
  number,
  number,
  number,
  number,
];
const backend = await initWebGPU();
const shape = [b, h, t, d];
const size = b * h * t * d;
const q = ops.tensor(noise(size, 4), shape, { backend }).keep();
const k = ops.tensor(noise(size, 5), shape, { backend }).keep();
const v = ops.tensor(noise(size, 6), shape, { backend }).keep();
const flops = 4 * b * h * t * t * d;
const seconds = await timeGpu(backend.runtime, () => scope(() => void ops.attention(q, k, v)), 5, 0.3);
// The same five kernels with the causal mask built once: the GPU part of the op-layer time.
const mask = ops.attentionMask(t, t, true, null, q).keep();
const kernelsOnly = () =>
  scope(() => {
    const scores = ops.affine(ops.matmul(q, k, { transB: true }), 1 / Math.sqrt(d), 0); // [B, H, T, T]
    void ops.matmul(ops.softmax(ops.add(scores, mask)), v); // [B, H, T, D]
  });
const kernelSeconds = await timeGpu(backend.runtime, kernelsOnly, 5, 0.3);
const label = `B${b} H${h} T${t} D${d}`;
printTable(`attention on ${backend.adapterInfo.description || backend.adapterInfo.device}`, [
  row('attention causal (ops.attention, f32)', label, seconds, flops / seconds / 1e12, 'TFLOP/s', 67),
  row('same kernels, mask built once', label, kernelSeconds, flops / kernelSeconds / 1e12, 'TFLOP/s', 67),
]);
process.exit(0);
