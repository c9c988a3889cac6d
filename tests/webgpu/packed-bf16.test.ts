/**
 * bf16-packed weight tensors on the webgpu backend (backend/webgpu/packed.ts): read back exactly, and
 * read by linear layers (the matrix-vector kernel for ≤ 8 rows, the tiled kernel with and without bounds
 * checks, vec4 and scalar loads) and the embedding gather exactly as their float32 copies are; any other
 * kernel refuses them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bf16Bits, bf16Value } from '../../src/backend/webgpu/decode/half.js';
import { matmulTiling } from '../../src/backend/webgpu/kernels/matmul.js';
import { isBf16Exact, packBf16Words, packedBf16Tensor } from '../../src/backend/webgpu/packed.js';
import * as ops from '../../src/ops/index.js';
import { noise, requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

/** Random values rounded to bf16 (what a bf16 checkpoint holds). */
function bf16Noise(n: number, seed: number): Float32Array {
  return Float32Array.from(noise(n, seed), (v) => bf16Value(bf16Bits(v)));
}

test('bf16 packing: exactness check and word layout (element 2i in the low half)', () => {
  assert.equal(isBf16Exact(Float32Array.of(1, -2.5, 0)), true);
  assert.equal(isBf16Exact(Float32Array.of(1 + 2 ** -20)), false);
  const words = packBf16Words(Float32Array.of(1, -2, 3));
  assert.deepEqual([...words], [0xc0003f80, 0x00004040]);
});

if (backend) {
  test('a packed tensor reads back as its float32 values; non-bf16 values are refused', async () => {
    const values = bf16Noise(37, 1);
    const t = packedBf16Tensor(backend, values, [37]);
    assert.deepEqual(await t.data(), values);
    assert.throws(() => packedBf16Tensor(backend, Float32Array.of(0.1), [1]), /exactly bf16/);
    t.dispose();
  });

  const packedMatchesDense = async (m: number, k: number, n: number): Promise<void> => {
    const w = bf16Noise(n * k, 2);
    const x = ops.tensor(noise(m * k, 3), [m, k], { backend });
    const dense = ops.tensor(w, [n, k], { backend });
    const packed = packedBf16Tensor(backend, w, [n, k]);
    const bias = ops.tensor(noise(n, 4), [n], { backend });
    const want = await ops.linear(x, dense, bias).data();
    const got = await ops.linear(x, packed, bias).data();
    for (let i = 0; i < want.length; i++)
      assert.ok(
        Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)),
        `${i}: ${got[i]} vs ${want[i]}`,
      );
    for (const t of [x, dense, packed, bias]) t.dispose();
  };

  // M ≤ 8: the matrix-vector kernel; larger M: the tiled kernel (checked where a dimension is ragged).
  for (const [m, k, n] of [
    [1, 64, 48],
    [5, 30, 50],
    [3, 31, 7],
    [128, 64, 128],
    [37, 30, 50],
    [130, 33, 9],
  ] as const)
    test(`linear with a packed weight equals the float32 weight: M ${m}, K ${k}, N ${n}`, async () => {
      // Both output tilings of the tiled kernel (matmulTiling; the matrix-vector kernel ignores it).
      const routed = matmulTiling.smallTileBelow;
      try {
        for (const below of [0, Number.POSITIVE_INFINITY]) {
          matmulTiling.smallTileBelow = below;
          await packedMatchesDense(m, k, n);
        }
      } finally {
        matmulTiling.smallTileBelow = routed;
      }
    });

  test('the embedding gather reads a packed table as its float32 copy (odd widths too)', async () => {
    for (const dim of [8, 7]) {
      const table = bf16Noise(11 * dim, 5);
      const ids = ops.tensor(Int32Array.of(3, 0, 10, 3), [4], { backend });
      const want = await ops.embedding(ops.tensor(table, [11, dim], { backend }), ids).data();
      const got = await ops.embedding(packedBf16Tensor(backend, table, [11, dim]), ids).data();
      assert.deepEqual(got, want);
    }
  });

  test('other kernels refuse a packed tensor, naming the remedy', () => {
    const packed = packedBf16Tensor(backend, bf16Noise(16, 6), [4, 4]);
    assert.throws(
      () => ops.add(packed, packed),
      /cannot read a bf16-packed tensor \[4, 4\].*gpuWeights 'f32'/,
    );
    const x = ops.tensor(noise(8, 7), [2, 4], { backend });
    assert.throws(() => ops.matmul(x, packed), /read by linear layers only .*gpuWeights 'f32'/);
    packed.dispose();
    x.dispose();
  });
}
