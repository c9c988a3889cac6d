/**
 * Streaming elementwise kernels on WebGPU: bytes moved per element are reads + writes (unary 8 B, binary
 * 12 B, float32), against the ceiling of 3.7 TB/s (the H200's measured WebGPU copy; this run's own
 * buffer-to-buffer copy is printed as well). Usage: node dist/bench/elementwise.js [millions of elements]
 */
import { initWebGPU, webgpuKernels } from '../src/backend/webgpu/index.js';
import { noise, printTable, type Row, row, timeGpu } from './gpu-timing.js';

const n = Number(process.argv[2] ?? 256) * 2 ** 20;
const ceiling = 3700;

const backend = await initWebGPU();
const runtime = backend.runtime;
const host = noise(n, 3);
const x = runtime.upload(host);
const y = runtime.upload(host);
const info = (storage: unknown) => ({ storage, shape: [n], dtype: 'float32' as const });
const spec = [{ shape: [n], dtype: 'float32' as const }];
const rows: Row[] = [];

async function bench(label: string, bytesPerElement: number, encode: () => unknown[] | undefined) {
  const seconds = await timeGpu(runtime, () => {
    for (const out of encode() ?? []) backend.free(out);
  });
  rows.push(
    row(label, `${n / 2 ** 20}M f32`, seconds, (bytesPerElement * n) / seconds / 1e9, 'GB/s', ceiling),
  );
}

const out = runtime.alloc(n * 4);
await bench('copyBufferToBuffer', 8, () => {
  runtime.copy(x.buffer, out.buffer, n * 4);
  return undefined;
});
await bench('unary neg', 8, () => webgpuKernels.unary!([info(x)], { op: 'neg' }, spec));
await bench('unary gelu (erf)', 8, () => webgpuKernels.unary!([info(x)], { op: 'gelu' }, spec));
await bench('binary add', 12, () => webgpuKernels.binary!([info(x), info(y)], { op: 'add' }, spec));
await bench('affine', 8, () => webgpuKernels.affine!([info(x)], { scale: 2, shift: 1 }, spec));
printTable(`elementwise on ${backend.adapterInfo.description || backend.adapterInfo.device}`, rows);
process.exit(0);
