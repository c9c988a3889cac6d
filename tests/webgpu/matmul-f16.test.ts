/**
 * The f16 matmul (f16 inputs, f32 accumulation and output) against the cpu float32 product of the same
 * f16-rounded inputs: the tiled shader-f16 path everywhere, and the subgroup-matrix (tensor core) path
 * where the adapter has it (it reports that it was not run otherwise). Tolerance 1e-4 relative.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chooseF16Variant,
  describeF16Variant,
  encodeMatmulF16,
  type F16Variant,
  f16Config,
  f16VariantFits,
  f16Variants,
} from '../../src/backend/webgpu/index.js';
import { f16ToFloat32, float32ArrayToF16 } from '../../src/io/half.js';
import * as ops from '../../src/ops/index.js';
import { assertClose } from '../helpers/assert-close.js';
import { f32, noise, requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

if (backend) {
  const runtime = backend.runtime;

  async function check(m: number, n: number, k: number, variant: F16Variant) {
    const a16 = float32ArrayToF16(noise(m * k, 41));
    const b16 = float32ArrayToF16(noise(k * n, 42));
    const a = runtime.upload(a16);
    const b = runtime.upload(b16);
    const c = runtime.alloc(m * n * 4);
    assert.equal(encodeMatmulF16(runtime, a.buffer, b.buffer, c, m, n, k, variant), variant);
    const got = new Float32Array(await runtime.read(c));
    const toF32 = (bits: Uint16Array) => Float32Array.from(bits, f16ToFloat32);
    const expected = ops.matmul(f32(toF32(a16), [m, k]), f32(toF32(b16), [k, n])).dataSync();
    for (const s of [a, b, c]) runtime.release(s);
    assertClose(got, expected, { atol: 1e-4, rtol: 1e-4, shape: [m, n] });
  }

  describe('webgpu f16 matmul', () => {
    if (backend.runtime.features.has('shader-f16')) {
      test('tiled shader-f16 path, ragged 70x50x36', () => check(70, 50, 36, { path: 'tiled-f16' }));
      test('an unaligned shape chooses the tiled path', () => {
        assert.equal(chooseF16Variant(runtime, 70, 50, 36).path, 'tiled-f16');
      });
    } else {
      test('tiled shader-f16 path', (t) => t.skip('the adapter has no shader-f16'));
    }
    const config = f16Config(runtime);
    if (config) {
      // Two by three workgroup tiles of the largest variant, and four K steps of the shared kernel.
      const [m, n, k] = [256, 384, 128];
      for (const variant of f16Variants()) {
        test(`${describeF16Variant(variant)} (${config.M}x${config.N}x${config.K} fragments) ${m}x${n}x${k}`, async () => {
          assert.ok(f16VariantFits(runtime, variant, m, n, k));
          await check(m, n, k, variant);
        });
      }
    } else {
      // No tensor cores on this adapter: no subgroup-matrix variant may claim a shape, and even an
      // aligned shape falls back to the tiled path, which must still be right.
      test('without subgroup-matrix configurations, aligned shapes fall back to the tiled path', async () => {
        for (const variant of f16Variants())
          assert.equal(f16VariantFits(runtime, variant, 256, 256, 256), false);
        const chosen = chooseF16Variant(runtime, 256, 256, 64);
        assert.equal(chosen.path, 'tiled-f16');
        if (runtime.features.has('shader-f16')) await check(256, 256, 64, chosen);
      });
    }
  });
}
