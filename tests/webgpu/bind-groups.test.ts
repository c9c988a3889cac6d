/**
 * The eager runtime's kept bind groups (runtime.ts): a kernel's WGSL gives its binding types, the
 * parameter block takes a dynamic offset, and a dispatch that binds the same buffers again reuses the
 * bind group while reading its own parameters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OldestFirst } from '../../src/backend/webgpu/oldest-first.js';
import { Words } from '../../src/backend/webgpu/params.js';
import { storageBindings } from '../../src/backend/webgpu/runtime.js';
import { header } from '../../src/backend/webgpu/shader.js';
import { defineConfig } from '../../src/config/model-config.js';
import { DecodePlan } from '../../src/generate/decode-plan.js';
import { prefillBucket } from '../../src/generate/decode-plan-prefix.js';
import { benchmarkModel } from '../../src/model/random-weights.js';
import { requireWebGPU } from './setup.js';

test('binding types come from the WGSL; other groups, gaps or no parameter block are not cached', () => {
  const decl = (binding: number, kind: string) =>
    `@group(0) @binding(${binding}) var<${kind}> b${binding}: f32;`;
  assert.deepEqual(
    storageBindings(
      [decl(0, 'uniform'), decl(1, 'storage, read'), decl(2, 'storage, read_write')].join('\n'),
    ),
    ['read-only-storage', 'storage'],
  );
  assert.deepEqual(storageBindings(decl(0, 'uniform')), []);
  assert.equal(storageBindings([decl(0, 'uniform'), decl(2, 'storage, read')].join('\n')), null);
  assert.equal(storageBindings(decl(1, 'storage, read')), null);
  assert.equal(
    storageBindings(`${decl(0, 'uniform')}\n@group(1) @binding(0) var<storage, read> x: f32;`),
    null,
  );
});

test('the pool hands out the oldest free buffer first, however they came back', () => {
  const heap = new OldestFirst<string>();
  const keys = [5, 3, 9, 1, 7, 3, 8, 2, 6, 4, 0];
  for (const k of keys) heap.push(`b${k}`, k);
  assert.equal(heap.size, keys.length);
  assert.equal(heap.pop(), 'b0');
  heap.push('b10', 10);
  heap.push('b-1', -1);
  const order: string[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) order.push(item);
  assert.deepEqual(order, ['b-1', 'b1', 'b2', 'b3', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9', 'b10']);
  assert.equal(heap.pop(), undefined);
});

test('parameter words keep their 32-bit patterns (u32, i32, f32)', () => {
  const w = new Words().u(0xffffffff).i(-2).f(1.5).us([7], 3, 9);
  assert.deepEqual(w.words, [0xffffffff, 0xfffffffe, 0x3fc00000, 7, 9, 9]);
  assert.deepEqual([...new Uint32Array(w.bytes.buffer)], w.words);
  assert.throws(() => new Words().us([], 65), /at most 64 words/);
});

test('prefills are padded to 16, then four lengths a power of two', () => {
  const lengths = [1, 16, 17, 20, 21, 24, 31, 32, 33, 100, 128, 129, 160, 161, 1000];
  assert.deepEqual(
    lengths.map(prefillBucket),
    [16, 16, 20, 20, 24, 24, 32, 32, 40, 112, 128, 160, 160, 192, 1024],
  );
});

const backend = await requireWebGPU();

if (backend) {
  test('a dispatch binding the same buffers reuses the bind group and reads its own parameters', async () => {
    const runtime = backend.runtime;
    const code = `${header}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < pu(0)) { Y[g.x] = X[g.x] * pf(1) + pf(2); }
}`;
    const n = 100;
    const x = runtime.upload(Float32Array.from({ length: n }, (_, i) => i));
    const y = runtime.alloc(n * 4);
    const stats = runtime.bindGroupStats;
    const reused = stats.reused;
    // Three dispatches in one submit, each writing its own result over the last: the parameters of
    // each come from its own offset in the parameter buffer.
    for (const [scale, shift] of [
      [2, 1],
      [3, -1],
      [0.5, 4],
    ] as const) {
      runtime.dispatch(code, [x.buffer, y.buffer], new Words().u(n).f(scale).f(shift), [2]);
    }
    const got = new Float32Array(await runtime.read(y));
    assert.deepEqual(
      [...got],
      Array.from({ length: n }, (_, i) => i * 0.5 + 4),
    );
    assert.equal(stats.reused - reused, 2, 'the second and third dispatch reuse the first one’s group');
    // Not kept (benchmarks compare): a group per dispatch, the same results.
    runtime.keepBindGroups = false;
    try {
      runtime.dispatch(code, [x.buffer, y.buffer], new Words().u(n).f(-1).f(1), [2]);
      assert.deepEqual(
        [...new Float32Array(await runtime.read(y))],
        Array.from({ length: n }, (_, i) => 1 - i),
      );
      assert.equal(stats.reused - reused, 2);
    } finally {
      runtime.keepBindGroups = true;
    }
    runtime.release(x);
    runtime.release(y);
  });

  test('prompts of lengths padded alike bind the buffers they bound before, also after other lengths', async () => {
    const config = defineConfig({
      vocabSize: 64,
      hiddenSize: 32,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 48,
      maxPositionEmbeddings: 256,
    });
    const model = benchmarkModel(config, backend);
    const plan = await DecodePlan.create(model, 256, { weights: 'f32' });
    const stats = backend.runtime.bindGroupStats;
    const reuse = async (length: number) => {
      const before = { ...stats };
      await plan.prefill(Array.from({ length }, (_, i) => (i * 7 + length) % 64));
      return (stats.reused - before.reused) / (stats.dispatches - before.dispatches);
    };
    try {
      // The first prompts of a length fill the pool; from then on, any prompt padded to 24 binds the
      // same buffers: the oldest free ones, whatever ran in between.
      for (const length of [20, 22, 23]) await reuse(length);
      assert.equal(await reuse(21), 1);
      for (const length of [100, 105, 110]) await reuse(length);
      assert.equal(await reuse(19), 1, 'a prompt padded to 24 after three padded to 112');
      assert.equal(await reuse(106), 1);
    } finally {
      plan.dispose();
      model.dispose();
    }
  });
}
