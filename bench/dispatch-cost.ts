/**
 * What one compute dispatch costs on this device, host and GPU, apart from the work it does: the floor
 * under a planned decode step, which is ~100–150 small dependent dispatches per token.
 *
 * For a trivial kernel (one 64-thread workgroup or `--groups` of them, `b` storage bindings) and N
 * dispatches in one compute pass, it reports per dispatch: host time to encode (setBindGroup +
 * dispatchWorkgroups from JavaScript), to finish and to submit (Dawn records the backend's commands at
 * submit), the wall time to completion, and the GPU time of the pass from timestamp queries where the
 * feature exists. `dependent` dispatches all write one buffer (a barrier between each two); `independent`
 * ones write a buffer each. Dawn toggles come from SLM_DAWN_TOGGLES, so run it once per toggle set.
 *
 * `--calls` picks what the host calls per dispatch besides dispatchWorkgroups: `group` (setBindGroup, one
 * pipeline), `pipeline+group` (five pipelines taken in turn, a bind group each time: a planned step's
 * pattern), `pipeline+group/5` (the same, the bind group set every fifth dispatch: a group per layer),
 * `pipeline` (five pipelines in turn, one bind group set once) and `none` (one pipeline, one bind group
 * set once). All pipelines share one layout. `--writable` bindings of the `--bindings` are read_write.
 * `--distinct D,…` binds the inputs as aligned, disjoint ranges of D buffers for the writable ones and
 * D more for the read-only ones (0: a buffer each; Dawn tracks buffers: is the cost per binding or per
 * buffer?). Every case is set up first, then the repetitions take the cases in turn, so that a host
 * whose speed drifts (the H200 machine's swings 2x) weighs on all of them alike.
 *
 * Usage: node dist/bench/dispatch-cost.js [--dispatches 1000] [--bindings 1,4,8] [--groups 1,128]
 *        [--calls group,pipeline+group,pipeline,none] [--modes dependent,independent] [--writable 1]
 *        [--distinct 0] [--reps 9]
 */
import { getAdapter, requestDevice } from '../src/backend/webgpu/gpu.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const n = Number(flag('dispatches', '1000'));
const bindingCounts = flag('bindings', '1,4,8').split(',').map(Number);
const groupCounts = flag('groups', '1,128').split(',').map(Number);
const callNames = ['group', 'pipeline+group', 'pipeline+group/5', 'pipeline', 'none'] as const;
type Calls = (typeof callNames)[number];
const callSets = flag('calls', 'group').split(',') as Calls[];
for (const c of callSets) if (!callNames.includes(c)) throw new Error(`--calls: unknown set '${c}'`);
const modes = flag('modes', 'dependent,independent').split(',') as ('dependent' | 'independent')[];
const writable = Number(flag('writable', '1'));
const distincts = flag('distinct', '0').split(',').map(Number);
const reps = Number(flag('reps', '9'));

const adapter = await getAdapter();
if (!adapter) throw new Error('no WebGPU adapter');
const device = await requestDevice(adapter);
const timestamps = device.features.has('timestamp-query');
const STORAGE = 0x80;
const MAP_READ = 0x01;
const COPY_DST = 0x08;
const COPY_SRC = 0x04;

function shader(bindings: number, variant: number): string {
  const decls = [`@group(0) @binding(0) var<storage, read_write> out: array<f32>;`];
  let sum = 'out[i]';
  for (let b = 1; b < bindings; b++) {
    const access = b < writable ? 'read_write' : 'read';
    decls.push(`@group(0) @binding(${b}) var<storage, ${access}> in${b}: array<f32>;`);
    sum += ` + in${b}[i]`;
  }
  return `${decls.join('\n')}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  out[i] = ${sum} + ${variant + 1}.0;
}`;
}

interface Case {
  row: Record<string, string | number>;
  calls: Calls;
  groups: number;
  pipelines: GPUComputePipeline[];
  groupsOf: GPUBindGroup[];
  samples: { encode: number[]; finish: number[]; submit: number[]; wall: number[]; gpu: number[] };
}

const created: GPUBuffer[] = [];
const buffer = (size: number) => {
  const b = device.createBuffer({ size, usage: STORAGE });
  created.push(b);
  return b;
};
const cases: Case[] = [];
for (const bindings of bindingCounts) {
  const layout = device.createBindGroupLayout({
    entries: Array.from({ length: bindings }, (_, binding) => ({
      binding,
      visibility: 4, // COMPUTE
      buffer: { type: binding < writable ? ('storage' as const) : ('read-only-storage' as const) },
    })),
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  // Five pipelines (distinct shaders) sharing one layout, so that a bind group set once serves all.
  const pipelines = [0, 1, 2, 3, 4].map((variant) =>
    device.createComputePipeline({
      layout: pipelineLayout,
      compute: { module: device.createShaderModule({ code: shader(bindings, variant) }), entryPoint: 'main' },
    }),
  );
  for (const groups of groupCounts)
    for (const distinct of distincts) {
      const size = groups * 64 * 4;
      const align = device.limits.minStorageBufferOffsetAlignment;
      const stride = Math.ceil(size / align) * align;
      // Writable and read-only ranges never share a buffer (one buffer cannot be both in a dispatch).
      const shared = Array.from({ length: 2 * distinct }, () =>
        buffer(stride * Math.ceil(bindings / distinct)),
      );
      const inputs: GPUBufferBinding[] = Array.from({ length: bindings - 1 }, (_, i) => {
        if (distinct === 0) return { buffer: buffer(size) };
        const ro = i + 1 >= writable;
        const j = ro ? i + 1 - writable : i;
        const at = shared[(j % distinct) + (ro ? distinct : 0)]!;
        return { buffer: at, offset: Math.floor(j / distinct) * stride, size };
      });
      for (const mode of modes)
        for (const calls of callSets) {
          const outs = Array.from({ length: mode === 'dependent' ? 1 : n }, () => buffer(size));
          const groupsOf = outs.map((out) =>
            device.createBindGroup({
              layout,
              entries: [{ buffer: out }, ...inputs].map((resource, binding) => ({ binding, resource })),
            }),
          );
          cases.push({
            row: { bindings, writable, distinct, groups, mode, calls },
            calls,
            groups,
            pipelines,
            groupsOf,
            samples: { encode: [], finish: [], submit: [], wall: [], gpu: [] },
          });
        }
    }
}

const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
const resolve = device.createBuffer({ size: 16, usage: 0x200 | COPY_SRC });
const read = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });

async function measure(c: Case, keep: boolean): Promise<void> {
  await device.queue.onSubmittedWorkDone();
  const t0 = performance.now();
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass(
    querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
  );
  pass.setPipeline(c.pipelines[0]!);
  pass.setBindGroup(0, c.groupsOf[0]!);
  for (let d = 0; d < n; d++) {
    if (c.calls.startsWith('pipeline')) pass.setPipeline(c.pipelines[d % 5]!);
    if (
      c.calls === 'pipeline+group' ||
      c.calls === 'group' ||
      (c.calls === 'pipeline+group/5' && d % 5 === 0)
    )
      pass.setBindGroup(0, c.groupsOf[d % c.groupsOf.length]!);
    pass.dispatchWorkgroups(c.groups);
  }
  pass.end();
  if (querySet) {
    encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
  }
  const t1 = performance.now();
  const commands = encoder.finish();
  const t2 = performance.now();
  device.queue.submit([commands]);
  const t3 = performance.now();
  await device.queue.onSubmittedWorkDone();
  const t4 = performance.now();
  if (!keep) return;
  c.samples.encode.push(((t1 - t0) * 1000) / n);
  c.samples.finish.push(((t2 - t1) * 1000) / n);
  c.samples.submit.push(((t3 - t2) * 1000) / n);
  c.samples.wall.push(((t4 - t0) * 1000) / n);
  if (querySet) {
    await read.mapAsync(MAP_READ);
    const t = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    c.samples.gpu.push(Number(t[1]! - t[0]!) / 1e3 / n);
  }
}

for (const c of cases) await measure(c, false); // warm-up
for (let rep = 0; rep < reps; rep++) for (const c of cases) await measure(c, true);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const rows = cases.map((c) => {
  const row: Record<string, string | number> = {
    ...c.row,
    'encode µs': Number(median(c.samples.encode).toFixed(2)),
    'finish µs': Number(median(c.samples.finish).toFixed(2)),
    'submit µs': Number(median(c.samples.submit).toFixed(2)),
    'wall µs': Number(median(c.samples.wall).toFixed(2)),
    'GPU µs': c.samples.gpu.length ? Number(median(c.samples.gpu).toFixed(2)) : '-',
  };
  console.error(`ROW ${JSON.stringify(row)}`);
  return row;
});
console.log(
  `\nper-dispatch cost, ${n} dispatches in one pass, medians of ${reps} interleaved repetitions, toggles: ${process.env.SLM_DAWN_TOGGLES || 'default'}`,
);
console.table(rows);
for (const b of created) b.destroy();
process.exit(0);
