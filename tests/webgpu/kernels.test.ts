/**
 * WebGPU kernels on the shapes the small op cases do not reach: matmul across tile edges and on the
 * vec4 / unchecked fast paths, rows longer than a workgroup, general broadcasting and permutes of high
 * rank, int32 data movement, erf/tanh accuracy over a wide range, repeated-id scatter, empty tensors,
 * and the buffer pool's reuse rules. Each compares with the cpu backend on the same float32 inputs.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Backend } from '../../src/backend/backend.js';
import { matmulTiling } from '../../src/backend/webgpu/kernels/matmul.js';
import * as ops from '../../src/ops/index.js';
import { scope, scopeAsync, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose, type Tolerance } from '../helpers/assert-close.js';
import { cpu, f32, int32, noise, requireWebGPU } from './setup.js';

interface Input {
  data: Float32Array | Int32Array;
  shape: number[];
}

const rand = (shape: number[], seed: number, scale = 1): Input => ({
  data: noise(
    shape.reduce((a, b) => a * b, 1),
    seed,
    scale,
  ),
  shape,
});

function toTensor(input: Input, backend: Backend): Tensor {
  return input.data instanceof Int32Array
    ? int32(input.data, input.shape, backend)
    : f32(input.data, input.shape, backend);
}

/** Runs `fn` on cpu and webgpu with the same inputs; compares every returned tensor. */
async function same(
  gpu: Backend,
  inputs: Input[],
  fn: (xs: Tensor[]) => Tensor | Tensor[],
  tolerance: Tolerance,
) {
  const run = (backend: Backend) =>
    scopeAsync(async () => {
      const outs = fn(inputs.map((i) => toTensor(i, backend)));
      const list = Array.isArray(outs) ? outs : [outs];
      return Promise.all(list.map(async (t) => ({ shape: t.shape, data: await t.data() })));
    });
  const expected = await run(cpu());
  const actual = await run(gpu);
  assert.equal(actual.length, expected.length);
  actual.forEach((a, k) => {
    assert.deepEqual(a.shape, expected[k]!.shape);
    assertClose(a.data, expected[k]!.data, { ...tolerance, shape: a.shape, message: `output ${k}` });
  });
}

const backend = await requireWebGPU();

if (backend) {
  const mm = { atol: 1e-5, rtol: 1e-4 };
  const exact = { atol: 0, rtol: 0 };

  // Every case on both output tilings (the router picks 64x64 for products with few 128-tiles).
  for (const [label, below] of [
    ['128x128 tiles', 0],
    ['64x64 tiles', Number.POSITIVE_INFINITY],
  ] as const)
    describe(`webgpu matmul, ${label}`, () => {
      const routed = matmulTiling.smallTileBelow;
      beforeEach(() => {
        matmulTiling.smallTileBelow = below;
      });
      afterEach(() => {
        matmulTiling.smallTileBelow = routed;
      });
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          test(`ragged 133x70x37 (scalar loads, bounds checks) transA=${transA} transB=${transB}`, () =>
            same(
              backend,
              [rand(transA ? [37, 133] : [133, 37], 1), rand(transB ? [70, 37] : [37, 70], 2)],
              ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
              mm,
            ));
          test(`vec4 with edges 132x68x36 transA=${transA} transB=${transB}`, () =>
            same(
              backend,
              [rand(transA ? [36, 132] : [132, 36], 3), rand(transB ? [68, 36] : [36, 68], 4)],
              ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
              mm,
            ));
        }
      }
      // One operand's rows not a multiple of 4 (an lm head's 50257-word vocabulary): that operand is read
      // (or C written) with scalar access, the others with vec4.
      for (const [m, n, k] of [
        [136, 131, 68],
        [131, 136, 68],
        [132, 68, 37],
      ] as const) {
        test(`mixed vec4 and scalar operands ${m}x${n}x${k}, every transpose`, async () => {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              await same(
                backend,
                [rand(transA ? [k, m] : [m, k], m + n), rand(transB ? [n, k] : [k, n], k)],
                ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
                mm,
              );
            }
          }
        });
      }
      // Few output tiles and K >= 2048 (a weight gradient over many tokens): K in chunks, summed after.
      for (const [m, n, k] of [
        [40, 36, 2100],
        [131, 36, 2100],
        [128, 128, 4096],
      ] as const) {
        test(`split K ${m}x${n}x${k}, every transpose`, async () => {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              await same(
                backend,
                [rand(transA ? [k, m] : [m, k], m + k), rand(transB ? [n, k] : [k, n], n + k)],
                ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
                { atol: 1e-4, rtol: 1e-4 },
              );
            }
          }
        });
      }
      test('tile-aligned 256x128x64 (unchecked fast path), K=512 batch of 2', async () => {
        await same(backend, [rand([256, 64], 5), rand([64, 128], 6)], ([a, b]) => ops.matmul(a!, b!), mm);
        await same(
          backend,
          [rand([2, 128, 512], 7), rand([2, 512, 128], 8)],
          ([a, b]) => ops.matmul(a!, b!),
          mm,
        );
      });
      test('broadcast batch axes [3,1,2] x [1,4,1] with transB', () =>
        same(
          backend,
          [rand([3, 1, 2, 5, 8], 9), rand([4, 1, 6, 8], 10)],
          ([a, b]) => ops.matmul(a!, b!, { transB: true }),
          mm,
        ));
      for (const transB of [false, true]) {
        test(`few rows (matrix-vector kernel) M = 1, 5, 8 and 9, transB=${transB}`, async () => {
          for (const [m, k, n, seed] of [
            [1, 768, 2304, 40],
            [5, 37, 70, 41],
            [8, 64, 33, 42],
            [9, 20, 50, 43],
          ] as const) {
            await same(
              backend,
              [rand([m, k], seed), rand(transB ? [n, k] : [k, n], seed + 100)],
              ([a, b]) => ops.matmul(a!, b!, { transB }),
              mm,
            );
          }
        });
      }
      test('few rows with broadcast batches [2,3,1,4] @ [3,5,4]ᵀ', () =>
        same(
          backend,
          [rand([2, 3, 1, 4], 44), rand([3, 5, 4], 45)],
          ([a, b]) => ops.matmul(a!, b!, { transB: true }),
          mm,
        ));
      test('K = 0 gives zeros', () =>
        same(backend, [rand([3, 0], 11), rand([0, 4], 12)], ([a, b]) => ops.matmul(a!, b!), exact));
    });

  describe('webgpu elementwise', () => {
    // x over [-10, 10] covers both branches of erf and tanh and GELU's far negative tail.
    const wide = {
      data: Float32Array.from({ length: 4000 }, (_, i) => -10 + (20 * i) / 3999),
      shape: [4000],
    };
    for (const op of ['gelu', 'geluTanh', 'tanh', 'silu', 'sigmoid', 'exp'] as const) {
      test(`${op} on [-10, 10], vec4 and scalar, forward and gradient`, async () => {
        const tolerance = { atol: 1e-6, rtol: 1e-5 };
        const grad = ([x]: Tensor[]) =>
          ops.runKernel('unaryGrad', [x!, ops.unary(op, x!), x!], { op }, [
            { shape: x!.shape, dtype: 'float32' },
          ]);
        await same(backend, [wide], ([x]) => ops.unary(op, x!), tolerance);
        await same(
          backend,
          [{ data: wide.data.subarray(0, 3999), shape: [3999] }],
          ([x]) => ops.unary(op, x!),
          tolerance,
        );
        await same(backend, [wide], grad, tolerance);
      });
    }
    test('general broadcast [2,1,3,1,5] + [3,4,1], bias cycle, scalar and vec4 cycle', async () => {
      const tol = { atol: 1e-6, rtol: 1e-6 };
      await same(backend, [rand([2, 1, 3, 1, 5], 13), rand([3, 4, 1], 14)], ([a, b]) => ops.add(a!, b!), tol);
      await same(backend, [rand([7, 12], 15), rand([12], 16)], ([a, b]) => ops.mul(a!, b!), tol);
      await same(backend, [rand([5], 17), rand([3, 5], 18)], ([a, b]) => ops.sub(a!, b!), tol);
      await same(backend, [rand([3, 5], 19), rand([1], 20)], ([a, b]) => ops.div(a!, b!), {
        atol: 1e-5,
        rtol: 1e-5,
      });
    });
  });

  describe('webgpu reductions and rows', () => {
    const tol = { atol: 1e-5, rtol: 1e-4 };
    test('softmax, argmax and logsumexp rows longer than a workgroup (1000 columns)', async () => {
      await same(backend, [rand([5, 1000], 21, 5)], ([x]) => [ops.softmax(x!), ops.argmax(x!)], tol);
    });
    test('argmax takes the first of equal maxima', () =>
      same(
        backend,
        [{ data: Float32Array.from([1, 3, 3, 0, 2, 2, 2, 2]), shape: [2, 4] }],
        ([x]) => ops.argmax(x!),
        exact,
      ));
    test('sum over rows, columns, middle axes and nothing', async () => {
      const x = rand([3, 4, 5, 6], 22);
      for (const axes of [[3], [2, 3], [0], [0, 1], [1], [0, 2], [1, 3]]) {
        await same(backend, [x], ([t]) => ops.sum(t!, axes), tol);
      }
      await same(backend, [rand([300, 70], 23)], ([t]) => ops.sum(t!, 0), tol);
    });
    test('long reductions split over workgroups: a whole-tensor sum, few long rows, many rows of columns', async () => {
      // 300k elements in one row: chunks of 4096 and a second pass; 3 rows of 20001: 5 chunks each;
      // 2000 rows of 37 and 5000 of 70 columns: row splits (a bias gradient's shape) and a second pass.
      const long = { atol: 1e-4, rtol: 1e-4 };
      await same(backend, [rand([300000], 60)], ([t]) => ops.sum(t!), long);
      await same(backend, [rand([3, 20001], 61)], ([t]) => ops.sum(t!, 1), long);
      await same(backend, [rand([2000, 37], 62)], ([t]) => ops.sum(t!, 0), long);
      await same(backend, [rand([5, 1000, 70], 63)], ([t]) => ops.sum(t!, [0, 1]), long);
    });
    test('cross-entropy over a 1000-word vocabulary with ignored rows, and its gradient', async () => {
      const targets = { data: Int32Array.from([3, -100, 999, 0, 512, -100]), shape: [6] };
      await same(
        backend,
        [rand([6, 1000], 24, 4), targets],
        ([l, t]) => {
          const loss = ops.crossEntropy(l!, t!, { reduction: 'none' });
          const dl = ops.runKernel(
            'crossEntropyBackward',
            [l!, t!, ops.affine(loss, 0, 0.5)],
            { ignoreIndex: -100 },
            [{ shape: l!.shape, dtype: 'float32' }],
          );
          return [loss, ops.crossEntropy(l!, t!), dl[0]!];
        },
        tol,
      );
    });
    // 40 rows: weight gradients in one pass; 1500 rows of 37: split over rows, then a second pass.
    for (const [rows, dim, seed] of [
      [40, 700, 25],
      [1500, 37, 64],
    ] as const) {
      test(`rmsNorm and layerNorm rows of ${dim} with weight gradients over ${rows} rows`, async () => {
        const attrsR = { eps: 1e-5, weightOffset: 0, hasWeight: true };
        const attrsL = { eps: 1e-5, hasWeight: true, hasBias: true };
        await same(
          backend,
          [
            rand([rows, dim], seed, 2),
            rand([dim], seed + 1),
            rand([dim], seed + 2),
            rand([rows, dim], seed + 3),
          ],
          ([x, w, b, dy]) => {
            const spec = (shape: readonly number[]) => ({ shape, dtype: 'float32' as const });
            const [y, rstd] = ops.runKernel('rmsNorm', [x!, w!], attrsR, [spec(x!.shape), spec([rows])]);
            const rg = ops.runKernel('rmsNormBackward', [x!, w!, rstd!, dy!], attrsR, [
              spec(x!.shape),
              spec(w!.shape),
            ]);
            const [ly, mean, rs] = ops.runKernel('layerNorm', [x!, w!, b!], attrsL, [
              spec(x!.shape),
              spec([rows]),
              spec([rows]),
            ]);
            const lg = ops.runKernel('layerNormBackward', [x!, w!, mean!, rs!, dy!], attrsL, [
              spec(x!.shape),
              spec(w!.shape),
              spec(b!.shape),
            ]);
            return [y!, rstd!, ...rg, ly!, mean!, rs!, ...lg];
          },
          { atol: 1e-4, rtol: 1e-4 },
        );
      });
    }
  });

  describe('webgpu data movement and embeddings', () => {
    test('permute rank 6 and int32 permute, slice, pad, concat', async () => {
      await same(
        backend,
        [rand([2, 3, 1, 4, 2, 3], 29)],
        ([x]) => ops.permute(x!, [5, 3, 0, 4, 2, 1]),
        exact,
      );
      const ints = { data: Int32Array.from({ length: 60 }, (_, i) => i * 7 - 100), shape: [3, 4, 5] };
      await same(
        backend,
        [ints],
        ([x]) => [
          ops.permute(x!, [2, 0, 1]),
          ops.slice(x!, 1, 1, 3),
          ops.runKernel('pad', [ops.slice(x!, 2, 1, 4)], { begin: [0, 0, 1] }, [
            { shape: [3, 4, 5], dtype: 'int32' },
          ])[0]!,
          ops.concat([x!, x!], 2),
        ],
        exact,
      );
    });
    test('embedding gather and scatter-add with many repeated ids', async () => {
      const idsInput = { data: Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 11), shape: [300] };
      await same(
        backend,
        [rand([11, 40], 30), idsInput, rand([300, 40], 31)],
        ([w, i, dy]) => [
          ops.embedding(w!, i!),
          ops.runKernel('scatterAdd', [i!, dy!], { rows: 11 }, [{ shape: [11, 40], dtype: 'float32' }])[0]!,
        ],
        { atol: 1e-5, rtol: 1e-5 },
      );
    });
    test('empty tensors', async () => {
      await same(backend, [rand([0, 5], 32)], ([x]) => [ops.exp(x!), ops.sum(x!, 0), ops.softmax(x!)], exact);
    });
  });

  describe('webgpu memory', () => {
    test('a tensor past the storage binding limit is refused with a clear error', () => {
      const limit = backend.runtime.device.limits.maxStorageBufferBindingSize;
      if (limit >= 2 ** 31) return; // too large to allocate in a test on this adapter
      const x = ops.zeros([limit / 4 + 4], { backend });
      assert.throws(() => ops.exp(x), /exceeds this adapter's storage binding limit/);
      x.dispose();
    });
    test('float64 is refused; zeros, copyInto and reads of int32', async () => {
      assert.throws(() => ops.tensor(new Float64Array(2), [2], { backend }), /does not support float64/);
      const z = ops.zeros([5], { backend });
      assert.deepEqual(Array.from(await z.data()), [0, 0, 0, 0, 0]);
      const src = f32([1, 2, 3, 4, 5], [5], backend);
      backend.copyInto(z.info(), src.info());
      assert.deepEqual(Array.from(await z.data()), [1, 2, 3, 4, 5]);
      const ids = int32([-1, 2 ** 31 - 1], [2], backend);
      assert.deepEqual(Array.from(await ids.data()), [-1, 2 ** 31 - 1]);
      for (const t of [z, src, ids]) t.dispose();
    });
    test('a freed buffer is reused only after work that reads it is submitted', async () => {
      // x feeds y; x is freed before any submit, then an upload of the same size must not overwrite it.
      const x = f32([1, 2, 3, 4], [4], backend);
      const y = ops.exp(x);
      x.dispose();
      const other = f32([9, 9, 9, 9], [4], backend);
      const got = await y.data();
      assertClose(got, [1, 2, 3, 4].map(Math.exp), { rtol: 1e-6 });
      assert.deepEqual(Array.from(await other.data()), [9, 9, 9, 9]);
      y.dispose();
      other.dispose();
    });
    test('memory stays bounded when large temporaries are freed between reads', async () => {
      const x = f32(noise(1 << 19, 33), [1 << 19], backend); // 2 MiB
      await x.data();
      const before = backend.runtime.allocatedBytes;
      for (let i = 0; i < 40; i++) scope(() => void ops.exp(ops.exp(x)));
      await backend.sync();
      const grown = backend.runtime.allocatedBytes - before;
      assert.ok(grown <= 3 * (2 << 20), `the pool grew by ${grown} bytes over 40 steps`);
      x.dispose();
    });
    test('many dispatches between reads (past one submit batch)', async () => {
      let x = f32([0.5], [1], backend);
      for (let i = 0; i < 1200; i++) {
        const next = ops.affine(x, 1, 1);
        x.dispose();
        x = next;
      }
      assert.equal(await x.item(), 1200.5);
      x.dispose();
    });
  });
}
