/**
 * How fast a few workgroups stream weights: the question behind fusing decode kernels. A fused kernel
 * (attention · o-projection per head, gate/up · down per slice of the hidden units) runs fewer,
 * fatter workgroups than the matvecs it replaces, so its time depends on how many bytes one workgroup
 * can pull per microsecond, which no datasheet gives.
 *
 * For W workgroups of T invocations each reading B bytes (vec4<u32> loads, U independent loads in
 * flight per invocation, summed and written out), it runs N dependent dispatches in one pass and
 * reports GPU µs per dispatch (timestamp queries around the pass) and GB/s per workgroup. `fresh`
 * reads a different region each dispatch (weights streamed from memory); `same` rereads one region
 * (a KV cache or a weight slice shared between workgroups, from L2); `prefetched` reads a different
 * region each dispatch but also loads the next dispatch's region, so that its own comes from L2 (the
 * question: does a dependent kernel gain from its predecessor touching its weights first).
 *
 * Usage: node dist/bench/workgroup-stream.js [--groups 9,36,132] [--kb 20,74,172,393] [--threads 256,1024]
 */
import { getAdapter, requestDevice } from '../src/backend/webgpu/gpu.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const list = (name: string, fallback: string) => flag(name, fallback).split(',').map(Number);
const n = Number(flag('dispatches', '400'));
const groupCounts = list('groups', '9,18,36,72,132');
const kbs = list('kb', '1,20,74,172,393');
const threadCounts = list('threads', '256,1024');
const unroll = Number(flag('unroll', '4'));

const adapter = await getAdapter();
if (!adapter) throw new Error('no WebGPU adapter');
const device = await requestDevice(adapter);
if (!device.features.has('timestamp-query')) throw new Error('this benchmark needs timestamp queries');
const STORAGE = 0x80;
const MAP_READ = 0x01;
const COPY_DST = 0x08;
const COPY_SRC = 0x04;
const bufferBytes = Math.min(1 << 30, Number(device.limits.maxBufferSize));
const weights = device.createBuffer({ size: bufferBytes, usage: STORAGE });
const out = device.createBuffer({ size: 8192 * 4, usage: STORAGE });

function shader(threads: number, vectors: number, prefetch: boolean): string {
  const trips = Math.ceil(vectors / (threads * unroll));
  const loads = Array.from(
    { length: unroll },
    (_, u) => `let i${u} = min(base + lid + (j * ${unroll}u + ${u}u) * ${threads}u, end);
      acc += bitcast<vec4<f32>>(w[i${u}]);`,
  ).join('\n      ');
  // Prefetch: every invocation also loads its share of the next dispatch's region (binding 2) and
  // keeps the loads alive with a store under a condition the compiler cannot decide.
  const ahead = prefetch
    ? Array.from(
        { length: Math.ceil(vectors / threads) },
        (_, t) => `pf += bitcast<vec4<f32>>(nx[min(base + lid + ${t * threads}u, end)]);`,
      ).join('\n  ')
    : '';
  return `@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${prefetch ? '@group(0) @binding(2) var<storage, read> nx: array<vec4<u32>>;' : ''}
var<workgroup> red: array<f32, ${threads}>;
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * ${vectors}u;
  let end = base + ${vectors - 1}u;
  var acc = vec4<f32>(0.0);
  var pf = vec4<f32>(0.0);
  ${ahead}
  for (var j = 0u; j < ${trips}u; j++) {
      ${loads}
  }
  red[lid] = dot(acc, vec4<f32>(1.0));
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[wid.x] = out[wid.x] * 0.5 + red[0]; }
  if (dot(pf, vec4<f32>(1.0)) == 3.0e-38) { out[4096u + wid.x] = 1.0; }
}`;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const rows: Record<string, string | number>[] = [];
const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
const resolve = device.createBuffer({ size: 16, usage: 0x200 | COPY_SRC });
const read = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
for (const threads of threadCounts) {
  for (const kb of kbs) {
    const vectors = Math.ceil((kb * 1024) / 16);
    const pipelines = [false, true].map((prefetch) =>
      device.createComputePipeline({
        layout: 'auto',
        compute: {
          module: device.createShaderModule({ code: shader(threads, vectors, prefetch) }),
          entryPoint: 'main',
        },
      }),
    );
    for (const groups of groupCounts) {
      const region = Math.ceil((groups * vectors * 16) / 256) * 256;
      for (const mode of ['fresh', 'same', 'prefetched'] as const) {
        const pipeline = pipelines[mode === 'prefetched' ? 1 : 0]!;
        const slots = mode === 'same' ? 1 : Math.max(2, Math.floor(bufferBytes / region) - 1);
        const at = (s: number) => ({ buffer: weights, offset: (s % slots) * region, size: region });
        const bindGroups = Array.from({ length: mode === 'same' ? 1 : Math.min(slots - 1, n) }, (_, s) =>
          device.createBindGroup({
            layout: pipeline.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: at(s) },
              { binding: 1, resource: { buffer: out } },
              ...(mode === 'prefetched' ? [{ binding: 2, resource: at(s + 1) }] : []),
            ],
          }),
        );
        const gpu: number[] = [];
        for (let rep = 0; rep < 5; rep++) {
          const encoder = device.createCommandEncoder();
          const pass = encoder.beginComputePass({
            timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
          });
          pass.setPipeline(pipeline);
          for (let d = 0; d < n; d++) {
            pass.setBindGroup(0, bindGroups[d % bindGroups.length]!);
            pass.dispatchWorkgroups(groups);
          }
          pass.end();
          encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
          encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
          device.queue.submit([encoder.finish()]);
          await read.mapAsync(MAP_READ);
          const t = new BigInt64Array(read.getMappedRange().slice(0));
          read.unmap();
          if (rep > 0) gpu.push(Number(t[1]! - t[0]!) / 1e3 / n);
        }
        const us = median(gpu);
        rows.push({
          threads,
          KB: kb,
          groups,
          mode,
          'GPU µs': Number(us.toFixed(2)),
          'GB/s a group': Number(((kb * 1024) / us / 1e3).toFixed(1)),
          'GB/s total': Number(((groups * kb * 1024) / us / 1e3).toFixed(0)),
        });
        console.error(`ROW ${JSON.stringify(rows.at(-1))}`);
      }
    }
  }
}
console.log(`\nworkgroup streaming, ${n} dependent dispatches in one pass, unroll ${unroll}`);
console.table(rows);
process.exit(0);
