/**
 * Matmul throughput on WebGPU: the float32 tiled kernel (all transposes) and the f16 kernels (subgroup
 * matrix where the adapter has it, else the tiled shader-f16 fallback) at N^3 (default 4096).
 * FLOPs = 2·M·N·K. Each result is first checked on 64 sampled entries against a float64 dot product.
 * Ceilings: 67 TFLOP/s f32 (H100/H200 SXM datasheet, no tensor cores), 990 TFLOP/s dense f16 tensor cores.
 * Usage: node dist/bench/matmul.js [size]
 */
import {
  describeF16Variant,
  encodeMatmul,
  encodeMatmulF16,
  type F16Variant,
  f16Config,
  f16VariantFits,
  f16Variants,
  initWebGPU,
} from '../src/backend/webgpu/index.js';
import { f16ToFloat32, float32ArrayToF16 } from '../src/io/half.js';
import { noise, printTable, type Row, row, timeGpu } from './gpu-timing.js';

const size = Number(process.argv[2] ?? 4096);
const f32Ceiling = 67;
const f16Ceiling = 990;

/** Max relative error of 64 sampled entries of C against float64 dot products of the (rounded) inputs. */
function sampleError(
  c: Float32Array,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n: number,
  transA: boolean,
  transB: boolean,
): number {
  let worst = 0;
  for (let s = 0; s < 64; s++) {
    const i = (s * 2654435761) % n;
    const j = (s * 40503 + 17) % n;
    let ref = 0;
    let mag = 0;
    for (let p = 0; p < n; p++) {
      const x = a[transA ? p * n + i : i * n + p]! * b[transB ? j * n + p : p * n + j]!;
      ref += x;
      mag += Math.abs(x);
    }
    worst = Math.max(worst, Math.abs(c[i * n + j]! - ref) / mag);
  }
  return worst;
}

const backend = await initWebGPU();
const runtime = backend.runtime;
console.log(`device: ${JSON.stringify(backend.adapterInfo)}; features: ${[...runtime.features].join(', ')}`);
console.log(`subgroup matrix configs: ${JSON.stringify(backend.subgroupMatrixConfigs)}`);
const n = size;
const flops = 2 * n * n * n;
const aHost = noise(n * n, 1);
const bHost = noise(n * n, 2);
const a = runtime.upload(aHost);
const b = runtime.upload(bHost);
const c = runtime.alloc(n * n * 4);
const rows: Row[] = [];

for (const [transA, transB] of [
  [false, false],
  [false, true],
  [true, false],
] as const) {
  const label = `f32 tiled${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`;
  const encode = () =>
    encodeMatmul(
      a.buffer,
      b.buffer,
      c,
      { m: n, n, k: n, transA, transB },
      { shape: [], aStrides: [], bStrides: [] },
    );
  encode();
  const err = sampleError(new Float32Array(await runtime.read(c)), aHost, bHost, n, transA, transB);
  const seconds = await timeGpu(runtime, encode);
  console.log(`${label}: sampled relative error ${err.toExponential(2)}`);
  rows.push(row(label, `${n}^3`, seconds, flops / seconds / 1e12, 'TFLOP/s', f32Ceiling));
}

const a16 = float32ArrayToF16(aHost);
const b16 = float32ArrayToF16(bHost);
const a16Buf = runtime.upload(a16);
const b16Buf = runtime.upload(b16);
const a16f = Float32Array.from(a16, f16ToFloat32);
const b16f = Float32Array.from(b16, f16ToFloat32);
const variants = [...f16Variants(), { path: 'tiled-f16' } as F16Variant].filter((v) =>
  f16VariantFits(runtime, v, n, n, n),
);
if (!f16Config(runtime))
  console.log('f16 subgroup-matrix: not available on this adapter (no f16 -> f32 config)');
for (const variant of variants) {
  const label = `f16 ${describeF16Variant(variant)}`;
  try {
    const encode = () => encodeMatmulF16(runtime, a16Buf.buffer, b16Buf.buffer, c, n, n, n, variant);
    encode();
    const err = sampleError(new Float32Array(await runtime.read(c)), a16f, b16f, n, false, false);
    console.log(`${label}: sampled relative error ${err.toExponential(2)}`);
    const seconds = await timeGpu(runtime, encode);
    rows.push(row(label, `${n}^3`, seconds, flops / seconds / 1e12, 'TFLOP/s', f16Ceiling));
  } catch (error) {
    console.log(`${label} failed: ${(error as Error).message.split('\n').slice(0, 8).join(' | ')}`);
  }
}
printTable(`matmul on ${backend.adapterInfo.description || backend.adapterInfo.device}`, rows);
process.exit(0);
