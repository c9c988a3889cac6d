/**
 * Attention through the op layer on WebGPU at the GPT-2 small shape, causal: the fused flashAttention
 * kernels and the composite path (QKᵀ matmul, scale, cached mask, softmax, PV matmul), forward alone and
 * forward + backward. FLOPs = 4·B·H·T²·D forward (both products in full, as the unfused path computes
 * them; the fused kernel skips the masked half); forward + backward counts 3.5x that (FlashAttention-2's
 * count: the backward's five products of that size are 2.5 forwards).
 * Ceiling 67 TFLOP/s f32.
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
const forward = (implementation: 'fused' | 'composite') => () =>
  scope(() => void ops.attention(q, k, v, { implementation }));
const leaves = [q, k, v].map((x) => {
  const leaf = ops.affine(x, 1, 0).keep();
  leaf.requiresGrad = true;
  return leaf;
});
const training = (implementation: 'fused' | 'composite') => () =>
  scope(() => {
    const o = ops.attention(leaves[0]!, leaves[1]!, leaves[2]!, { implementation });
    ops.backward(o, ops.affine(o, 0, 1)); // dO = 1
    for (const leaf of leaves) {
      leaf.grad?.dispose();
      leaf.grad = null;
    }
  });
const label = `B${b} H${h} T${t} D${d}`;
const rows = [];
for (const implementation of ['fused', 'composite'] as const) {
  const seconds = await timeGpu(backend.runtime, forward(implementation), 5, 0.3);
  rows.push(row(`forward, ${implementation}`, label, seconds, flops / seconds / 1e12, 'TFLOP/s', 67));
  const both = await timeGpu(backend.runtime, training(implementation), 5, 0.3);
  rows.push(
    row(`forward + backward, ${implementation}`, label, both, (3.5 * flops) / both / 1e12, 'TFLOP/s', 67),
  );
}
printTable(
  `attention (causal, f32) on ${backend.adapterInfo.description || backend.adapterInfo.device}`,
  rows,
);
process.exit(0);
