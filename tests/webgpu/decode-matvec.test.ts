/**
 * The planned decode's fused matvec kernel on its own, against a float64 host reference: every lane
 * count (32–256 lanes a row), unrolled strides with and without a masked tail, f32 and bf16 weights,
 * the RMSNorm prologue, stacked sources, the paired SiLU·up epilogue, residual adds and the argmax
 * partials. The whole-model tests cover these through the plan; here each layout is pinned directly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packHalves, roundToHalf } from '../../src/backend/webgpu/decode/half.js';
import {
  type FusedMatvecSpec,
  fusedMatvecShader,
  matvecOutputs,
  matvecRowsPerGroup,
} from '../../src/backend/webgpu/decode/matvec-fused.js';
import { subgroupsUsable } from '../../src/generate/decode-plan-options.js';
import { Rng } from '../../src/tensor/random.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;

function randoms(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);
}

/** out rows of the spec over x (f64), with weights already rounded as the kernel sees them. */
function reference(
  spec: FusedMatvecSpec,
  x: Float32Array,
  norm: Float32Array | null,
  weights: Float32Array[],
  start: Float32Array,
): Float64Array {
  const k = spec.k;
  let scale = 1;
  if (spec.normEps !== null) {
    let ss = 0;
    for (const v of x) ss += v * v;
    scale = 1 / Math.sqrt(ss / k + spec.normEps);
  }
  const input = Float64Array.from(x, (v, i) => v * scale * (norm ? norm[i]! : 1));
  const rows = (w: Float32Array, r: number) => {
    let sum = 0;
    for (let i = 0; i < k; i++) sum += w[r * k + i]! * input[i]!;
    return sum;
  };
  const n = matvecOutputs(spec);
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    if (spec.epilogue === 'siluMul') {
      const g = rows(weights[0]!, r);
      out[r] = (g / (1 + Math.exp(-g))) * rows(weights[1]!, r);
      continue;
    }
    let s = 0;
    let local = r;
    while (local >= spec.sources[s]!) local -= spec.sources[s++]!;
    const v = rows(weights[s]!, local);
    out[r] = spec.epilogue === 'residual' ? start[r]! + v : v;
  }
  return out;
}

/** The sources as given, or placed in one array at `offsets` (16-byte elements) when those are set. */
function stackedOrEach(
  sources: ArrayBufferView[],
  offsets: readonly number[] | undefined,
): ArrayBufferView[] {
  if (!offsets) return sources;
  const bytes = Math.max(...sources.map((d, i) => offsets[i]! * 16 + d.byteLength));
  const out = new Uint8Array(bytes);
  sources.forEach((d, i) => {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), offsets[i]! * 16);
  });
  return [out];
}

/**
 * Runs the kernel on random inputs (`tweak` may edit x and the weights first), checks every output row
 * against the host and returns the argmax partials where the epilogue writes them.
 */
async function runMatvec(
  spec: FusedMatvecSpec,
  seed: number,
  subgroups: boolean,
  tweak?: (x: Float32Array, weights: Float32Array[], norm: Float32Array | null) => void,
): Promise<Float32Array | null> {
  const device = backend!.runtime.device;
  const rng = new Rng(seed);
  const k = spec.k;
  const x = randoms(rng, k);
  const norm = spec.normEps !== null ? randoms(rng, k) : null;
  const bf16 = spec.weights === 'bf16';
  const weights = spec.sources.map((rows) => randoms(rng, rows * k));
  tweak?.(x, weights, norm);
  // Exactly the values the kernel unpacks: bf16 packs round to nearest even.
  const seen = weights.map((w) => (bf16 ? roundToHalf(w, 'bf16') : w));
  const n = matvecOutputs(spec);
  const start = randoms(rng, n);
  const buffer = (data: ArrayBufferView, usage = STORAGE) => {
    const b = device.createBuffer({
      size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
      usage: usage | COPY_DST,
    });
    device.queue.writeBuffer(b, 0, data as unknown as ArrayBuffer);
    return b;
  };
  const out = buffer(spec.epilogue === 'residual' ? start : new Float32Array(n), STORAGE | COPY_SRC);
  const blocks = Math.ceil(n / matvecRowsPerGroup(spec));
  const partial =
    spec.epilogue === 'argmax' ? buffer(new Float32Array(2 * blocks), STORAGE | COPY_SRC) : null;
  const resources = [
    buffer(x),
    ...(norm ? [buffer(norm)] : []),
    ...stackedOrEach(
      weights.map((w) => (bf16 ? packHalves(w, 'bf16') : w)),
      spec.sourceOffsets,
    ).map((data) => buffer(data)),
    out,
    ...(partial ? [partial] : []),
  ];
  const module = device.createShaderModule({
    code: fusedMatvecShader({
      ...spec,
      subgroups,
      subgroupMin: backend!.runtime.subgroupMinSize,
      subgroupMax: backend!.runtime.subgroupMaxSize || 32,
    }),
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: resources.map((b, i) => ({ binding: i + 1, resource: { buffer: b } })),
  });
  const read = device.createBuffer({ size: out.size, usage: MAP_READ | COPY_DST });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(blocks);
  pass.end();
  encoder.copyBufferToBuffer(out, 0, read, 0, out.size);
  const readPartial = partial
    ? device.createBuffer({ size: partial.size, usage: MAP_READ | COPY_DST })
    : null;
  if (partial && readPartial) encoder.copyBufferToBuffer(partial, 0, readPartial, 0, partial.size);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(MAP_READ);
  const got = new Float32Array(read.getMappedRange().slice(0, n * 4));
  read.unmap();
  let partials: Float32Array | null = null;
  if (readPartial) {
    await readPartial.mapAsync(MAP_READ);
    partials = new Float32Array(readPartial.getMappedRange().slice(0, 8 * blocks));
    readPartial.destroy();
  }
  const want = reference(spec, x, norm, seen, start);
  for (let r = 0; r < n; r++) {
    const tolerance = 1e-5 * Math.sqrt(k) * (1 + Math.abs(want[r]!));
    assert.ok(
      Math.abs(got[r]! - want[r]!) <= tolerance,
      `row ${r}: ${got[r]} vs ${want[r]} (k ${k}, lanes ${spec.lanes ?? 'default'})`,
    );
  }
  for (const b of [...resources, read]) b.destroy();
  return partials;
}

if (backend) {
  const cases: [string, FusedMatvecSpec][] = [];
  // Under the device's subgroup size (lavapipe 8, NVIDIA 32) rows reduce by shuffles; 16 lanes on
  // lavapipe span two subgroups (subgroupAdd), on NVIDIA sit in one (shuffles).
  for (const lanes of [4, 8, 16, 32, 64, 128, 256])
    for (const [k, weights] of [
      [200, 'f32'], // K % 4 = 0: vec4 loads, ragged tail at every lane count
      [1536, 'bf16'], // packed, whole strides at 32–64 lanes, masked beyond
      [37, 'f32'], // scalar loads
    ] as const)
      cases.push([
        `${lanes} lanes, K ${k}, ${weights}, norm, two sources`,
        { k, sources: [13, 6], normEps: 1e-5, bias: false, epilogue: 'store', weights, lanes },
      ]);
  cases.push([
    'gate/up pairs with SiLU, 64 lanes, bf16',
    {
      k: 896,
      sources: [24, 24],
      normEps: 1e-6,
      bias: false,
      epilogue: 'siluMul',
      weights: 'bf16',
      lanes: 64,
    },
  ]);
  for (const lanes of [8, 16])
    cases.push([
      `gate/up pairs with SiLU, ${lanes} lanes, bf16`,
      {
        k: 576,
        sources: [40, 40],
        normEps: 1e-5,
        bias: false,
        epilogue: 'siluMul',
        weights: 'bf16',
        lanes,
      },
    ]);
  cases.push([
    'residual add, default lanes for a long row (256: a workgroup a row)',
    { k: 4864, sources: [40], normEps: null, bias: false, epilogue: 'residual', weights: 'bf16' },
  ]);
  cases.push([
    'residual add, 19 unrolled strides (prime: masked tail)',
    { k: 19 * 32 * 4, sources: [9], normEps: null, bias: false, epilogue: 'residual', lanes: 32 },
  ]);
  cases.push([
    'residual add, 12 strides an iteration (unroll cap 16)',
    { k: 1536, sources: [9], normEps: 1e-5, bias: false, epilogue: 'residual', lanes: 16, unroll: 16 },
  ]);
  cases.push([
    'gate/up pairs unrolled by 3, 32 lanes, bf16',
    {
      k: 768,
      sources: [12, 12],
      normEps: 1e-5,
      bias: false,
      epilogue: 'siluMul',
      weights: 'bf16',
      unroll: 3,
    },
  ]);
  // One binding for all sources, with a gap between them (the arena's alignment).
  cases.push([
    'q/k/v from one binding at offsets, bf16, norm',
    {
      k: 64,
      sources: [12, 4, 4],
      normEps: 1e-5,
      bias: false,
      epilogue: 'store',
      weights: 'bf16',
      sourceOffsets: [0, 12 * 8 + 16, 12 * 8 + 16 + 4 * 8 + 3],
    },
  ]);
  cases.push([
    'gate/up from one binding at offsets, f32',
    {
      k: 48,
      sources: [10, 10],
      normEps: 1e-5,
      bias: false,
      epilogue: 'siluMul',
      sourceOffsets: [0, 10 * 12 + 5],
    },
  ]);
  const reductions = subgroupsUsable(backend) ? [false, true] : [false];
  for (const [name, spec] of cases)
    for (const subgroups of reductions)
      test(`fused matvec equals the host: ${name}${subgroups ? ', subgroup sums' : ''}`, async () => {
        await runMatvec(spec, name.length, subgroups);
      });

  // K 64: each block's weights loaded ahead of the previous block's sums; K 2048 (16 strides a lane:
  // unrolled whole) and K 4096 (32 strides: the rolled walk, 4 an iteration). 8 lanes with the norm: one block, its Σx² reduced after the dot, rows summed by
  // shuffles where subgroups are on.
  for (const [rowBlocks, k, lanes, normEps, subgroups] of [
    [1, 64, 32, null, false],
    [3, 64, 32, null, false],
    [3, 2048, 32, null, false],
    [2, 4096, 32, null, false],
    [1, 576, 8, 1e-5, false],
    ...(subgroupsUsable(backend) ? ([[1, 576, 8, 1e-5, true]] as const) : []),
  ] as const)
    test(`argmax partials over ${rowBlocks} row block(s) a workgroup find the first of tied maxima (K ${k}, ${lanes} lanes${normEps ? ', norm' : ''}${subgroups ? ', subgroups' : ''})`, async () => {
      const spec: FusedMatvecSpec = {
        k,
        sources: [100],
        normEps,
        bias: false,
        epilogue: 'argmax',
        rowBlocks,
        lanes,
      };
      // x > 0 and rows of ones: the largest dot any row can reach, so rows 7, 8 and 77 tie for the
      // maximum. At 32 lanes row 8 sits in slot 0 of its workgroup's second block, row 7 in slot 7 of
      // the first.
      const partials = await runMatvec(spec, 7, subgroups, (x, [w], norm) => {
        for (const v of norm ? [x, norm] : [x])
          v.forEach((e, i) => {
            v[i] = Math.abs(e) + 0.01;
          });
        for (const r of [77, 8, 7]) w!.fill(1, r * k, (r + 1) * k);
      });
      assert.ok(partials);
      const blocks = Math.ceil(100 / matvecRowsPerGroup(spec));
      assert.equal(blocks, Math.ceil(100 / ((256 / lanes) * rowBlocks)));
      let best = 0;
      for (let b = 1; b < blocks; b++) {
        const [v, i, bv, bi] = [
          partials[2 * b]!,
          partials[2 * b + 1]!,
          partials[2 * best]!,
          partials[2 * best + 1]!,
        ];
        if (v > bv || (v === bv && i < bi)) best = b;
      }
      assert.equal(partials[2 * best + 1], 7);
    });

  // The o-projection with the attention combine in its prologue: partials [H, splits, hd + 2] of
  // which only the filled splits count (the unfilled ones hold large stale values that must weigh 0),
  // a bias and a residual add. Widths on both sides of the register prefetch of the split outputs
  // (≤ 64 values an invocation) and of the weights (≤ 8 strides a lane).
  for (const [heads, splits, weights] of [
    [6, 4, 'bf16'], // split outputs and weights prefetched
    [32, 12, 'bf16'], // 96 split values an invocation: read after the merge weights; weights prefetched
    [32, 3, 'f32'], // 16 weight strides a lane: the strided loop
  ] as const)
    test(`combine prologue · matvec equals the host: ${heads} heads, ${splits} splits, ${weights}`, async () => {
      const device = backend!.runtime.device;
      const rng = new Rng(heads * splits);
      const hd = 64;
      const k = heads * hd;
      const chunk = 16;
      const pos = chunk * (splits - 1) - 3; // the last split is unfilled
      const filled = Math.min(Math.floor((pos + chunk) / chunk), splits);
      assert.ok(filled < splits);
      const rows = 40;
      const spec: FusedMatvecSpec = {
        k,
        sources: [rows],
        normEps: null,
        bias: true,
        epilogue: 'residual',
        weights,
        combine: { heads, headDim: hd, splits, chunk },
      };
      const part = new Float32Array(heads * splits * (hd + 2));
      const x = new Float64Array(k);
      for (let h = 0; h < heads; h++) {
        const ms: number[] = [];
        for (let s = 0; s < splits; s++) {
          const o = (h * splits + s) * (hd + 2);
          part[o] = s < filled ? rng.uniform() * 4 - 2 : 50;
          part[o + 1] = 1 + rng.uniform() * 8;
          for (let d = 0; d < hd; d++) part[o + 2 + d] = rng.uniform() * 2 - 1;
          if (s < filled) ms.push(part[o]!);
        }
        const big = Math.max(...ms);
        let l = 0;
        for (let s = 0; s < filled; s++) {
          const o = (h * splits + s) * (hd + 2);
          l += Math.exp(part[o]! - big) * part[o + 1]!;
          for (let d = 0; d < hd; d++) x[h * hd + d] += Math.exp(part[o]! - big) * part[o + 2 + d]!;
        }
        for (let d = 0; d < hd; d++) x[h * hd + d] /= l;
      }
      const w = randoms(rng, rows * k);
      const seen = weights === 'bf16' ? roundToHalf(w, 'bf16') : w;
      const bias = randoms(rng, rows);
      const start = randoms(rng, rows);
      const buffer = (data: ArrayBufferView, usage = STORAGE) => {
        const b = device.createBuffer({
          size: Math.ceil(data.byteLength / 16) * 16,
          usage: usage | COPY_DST,
        });
        device.queue.writeBuffer(b, 0, data as unknown as ArrayBuffer);
        return b;
      };
      const out = buffer(start, STORAGE | COPY_SRC);
      const resources = [
        buffer(new Uint32Array([pos, pos + 1, 0, 0]), 0x40),
        buffer(part),
        buffer(weights === 'bf16' ? packHalves(w, 'bf16') : w),
        buffer(bias),
        out,
      ];
      const pipeline = device.createComputePipeline({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code: fusedMatvecShader(spec) }), entryPoint: 'main' },
      });
      const group = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: resources.map((b, i) => ({ binding: i, resource: { buffer: b } })),
      });
      const read = device.createBuffer({ size: out.size, usage: MAP_READ | COPY_DST });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(Math.ceil(rows / matvecRowsPerGroup(spec)));
      pass.end();
      encoder.copyBufferToBuffer(out, 0, read, 0, out.size);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(MAP_READ);
      const got = new Float32Array(read.getMappedRange().slice(0, rows * 4));
      read.unmap();
      for (let r = 0; r < rows; r++) {
        let want = start[r]! + bias[r]!;
        for (let i = 0; i < k; i++) want += seen[r * k + i]! * x[i]!;
        assert.ok(
          Math.abs(got[r]! - want) <= 1e-5 * Math.sqrt(k) * (1 + Math.abs(want)),
          `row ${r}: ${got[r]} vs ${want}`,
        );
      }
      for (const b of [...resources, read]) b.destroy();
    });

  test('default lanes: 256 for long rows within 1,024 workgroups, else the most of 128/64/32 within 512; 32 for gate/up and combine, 8 for argmax', () => {
    const spec = (k: number, rows: number, epilogue: FusedMatvecSpec['epilogue'] = 'residual') =>
      ({ k, sources: [rows], normEps: null, bias: false, epilogue, weights: 'bf16' }) as const;
    assert.equal(matvecRowsPerGroup(spec(4864, 896)), 1); // Qwen2.5-0.5B down: 256 lanes, 896 workgroups
    assert.equal(matvecRowsPerGroup(spec(1536, 576)), 1); // SmolLM2 down: 192 vectors a row, 256 lanes
    assert.equal(matvecRowsPerGroup(spec(8192, 2048)), 4); // Llama-3.2-1B down: 64 lanes, 512 workgroups
    assert.equal(matvecRowsPerGroup(spec(2048, 3072)), 8); // Llama QKV: 32 lanes, 384 workgroups
    assert.equal(matvecRowsPerGroup(spec(576, 960)), 4); // SmolLM2 QKV: 72 vectors a row, 64 lanes
    assert.equal(matvecRowsPerGroup(spec(896, 4864)), 8);
    const gateUp = { ...spec(896, 4864, 'siluMul'), sources: [4864, 4864] };
    assert.equal(matvecRowsPerGroup(gateUp), 8);
    // An LM head of 151,936 rows: 8 lanes and 3 blocks of 32 rows a workgroup (1,583 argmax partials).
    assert.equal(matvecRowsPerGroup(spec(896, 151936, 'argmax')), 96);
    assert.equal(matvecRowsPerGroup(spec(576, 49152, 'argmax')), 32); // SmolLM2: one block
    assert.throws(() => matvecRowsPerGroup({ ...spec(64, 8), lanes: 48 }), /lanes must be/);
    assert.throws(() => fusedMatvecShader({ ...spec(64, 8), unroll: 0 }), /unroll must be an integer/);
  });
}
