/**
 * Cross-entropy (one workgroup per row), embedding gather and its scatter-add gradient, RoPE and the
 * in-place AdamW step (several tensors per dispatch). A GPU kernel cannot throw: an out-of-range token id gathers a zero row and is
 * skipped by scatter-add, and an out-of-range target gives a NaN loss (the cpu backend throws).
 */
import { sizeOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import { type AdamWAttrs, type CrossEntropyAttrs, decayOf, type RopeAttrs, ropeAxes } from '../../cpu/nn.js';
import { Words } from '../params.js';
import {
  alloc,
  bf16Element,
  buf,
  entryArgs,
  grid,
  header,
  isPacked,
  memoShader,
  packedBuf,
  runtime,
} from '../shader.js';
import { rowEntry, rowThreads, workgroupReduce } from './reduction.js';

const wg = 256;

/** Row max and log-sum-exp helpers shared by the forward and backward kernels. */
const rowStats = `
  let n = pu(1);
  let base = row * n;
  let t = T[row];
  let ignored = t == pi(2);
  var m = negInf();
  for (var j = lid; j < n; j += ${rowThreads}u) { m = max(m, L[base + j]); }
  let rowMax = reduceMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < n; j += ${rowThreads}u) { s += exp(L[base + j] - rowMax); }
  let sum = reduceSum(s, lid);`;

// Words: rows, vocab, ignoreIndex.
const crossEntropyShader = `${header}${workgroupReduce}
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read_write> Loss: array<f32>;
${rowEntry}${rowStats}
  if (lid == 0u) {
    let valid = t >= 0 && u32(t) < n;
    let loss = select(nan(), log(sum) + rowMax - L[base + u32(max(t, 0))], valid);
    Loss[row] = select(loss, 0.0, ignored);
  }
}`;

const countShader = `${header}
@group(0) @binding(1) var<storage, read> T: array<i32>;
@group(0) @binding(2) var<storage, read_write> Count: array<f32>;
var<workgroup> part: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var c = 0u;
  for (var r = lid; r < pu(0); r += 256u) { c += select(1u, 0u, T[r] == pi(2)); }
  part[lid] = c;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { Count[0] = f32(part[0]); }
}`;

export const crossEntropyKernel: Kernel<CrossEntropyAttrs> = ([logits, targets], { ignoreIndex }) => {
  const vocab = logits!.shape[logits!.shape.length - 1]!;
  const rows = sizeOf(targets!.shape);
  const words = new Words().u(rows).u(vocab).i(ignoreIndex);
  const loss = alloc(rows);
  const count = alloc(1);
  runtime().dispatch(crossEntropyShader, [buf(logits!), buf(targets!), loss.buffer], words, grid(rows));
  runtime().dispatch(countShader, [buf(targets!), count.buffer], words, [1]);
  return [loss, count];
};

const crossEntropyBackwardShader = `${header}${workgroupReduce}
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read> DRow: array<f32>;
@group(0) @binding(4) var<storage, read_write> DL: array<f32>;
${rowEntry}${rowStats}
  let scale = select(DRow[row] / sum, 0.0, ignored);
  let hot = select(DRow[row], 0.0, ignored);
  for (var j = lid; j < n; j += ${rowThreads}u) {
    DL[base + j] = exp(L[base + j] - rowMax) * scale - select(0.0, hot, i32(j) == t);
  }
}`;

export const crossEntropyBackwardKernel: Kernel<CrossEntropyAttrs> = (
  [logits, targets, dRow],
  { ignoreIndex },
) => {
  const vocab = logits!.shape[logits!.shape.length - 1]!;
  const rows = sizeOf(targets!.shape);
  const dl = alloc(rows * vocab);
  const words = new Words().u(rows).u(vocab).i(ignoreIndex);
  runtime().dispatch(
    crossEntropyBackwardShader,
    [buf(logits!), buf(targets!), buf(dRow!), dl.buffer],
    words,
    grid(rows),
  );
  return [dl];
};

// Words: n, dim, rows of the weight. A bf16-packed table (a packed embedding) reads its words.
const gatherShaderOf = (packed: boolean) => `${header}
@group(0) @binding(1) var<storage, read> W: array<${packed ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> Ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let dim = pu(1);
  let id = Ids[i / dim];
  let valid = id >= 0 && u32(id) < pu(2);
  Y[i] = select(0.0, ${packed ? bf16Element('W', 'u32(max(id, 0)) * dim + i % dim') : 'W[u32(max(id, 0)) * dim + i % dim]'}, valid);
}`;
const gatherShader = gatherShaderOf(false);
const gatherPackedShader = gatherShaderOf(true);

export const gatherKernel: Kernel = ([weight, ids], _attrs, [out]) => {
  const [rows, dim] = weight!.shape as [number, number];
  const n = sizeOf(out!.shape);
  const y = alloc(n);
  runtime().dispatch(
    isPacked(weight!) ? gatherPackedShader : gatherShader,
    [packedBuf(weight!), buf(ids!), y.buffer],
    new Words().u(n).u(dim).u(rows),
    grid(Math.ceil(n / wg)),
  );
  return [y];
};

// Float atomic add through compare-and-swap on the bits (WGSL has no f32 atomics).
const scatterAddShader = `${header}
@group(0) @binding(1) var<storage, read> Ids: array<i32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DW: array<atomic<u32>>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let dim = pu(1);
  let id = Ids[i / dim];
  if (id < 0 || u32(id) >= pu(2)) { return; }
  let dst = u32(id) * dim + i % dim;
  let v = DY[i];
  var old = atomicLoad(&DW[dst]);
  loop {
    let swapped = atomicCompareExchangeWeak(&DW[dst], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (swapped.exchanged) { break; }
    old = swapped.old_value;
  }
}`;

export const scatterAddKernel: Kernel<{ rows: number }> = ([ids, dy], { rows }) => {
  const dim = dy!.shape[dy!.shape.length - 1]!;
  const n = sizeOf(dy!.shape);
  const dw = alloc(rows * dim);
  runtime().clear(dw);
  runtime().dispatch(
    scatterAddShader,
    [buf(ids!), buf(dy!), dw.buffer],
    new Words().u(n).u(dim).u(rows),
    grid(Math.ceil(n / wg)),
  );
  return [dw];
};

// Words: n, headDim, heads, seq, rotaryDim, interleaved, sign, layout (RopeAttrs). One thread per
// output element; the input vector holding it is found through the layouts.
const ropeShader = `${header}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Cos: array<f32>;
@group(0) @binding(3) var<storage, read> Sin: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  let headDim = pu(1);
  let heads = pu(2);
  let seq = pu(3);
  let order = pu(7);
  let d = i % headDim;
  let vOut = i / headDim;
  let inner = vOut % (seq * heads);
  let first = vOut - inner;
  // Output position and head: heads-first out (layout 1) is [H, T], else [T, H].
  let t = select(inner / heads, inner % seq, order == 1u);
  let h = select(inner % heads, inner / seq, order == 1u);
  // Input vector: heads-first in (layout 2) is [H, T], else [T, H].
  let base = (first + select(t * heads + h, h * seq + t, order == 2u)) * headDim;
  let rotary = pu(4);
  if (d >= rotary) { Y[i] = X[base + d]; return; }
  let half = rotary / 2u;
  // (first, second) of the pair holding d, and which of the two d is.
  var pair: u32; var i0: u32; var i1: u32; var isFirst: bool;
  if (pu(5) == 1u) {
    pair = d / 2u; i0 = base + 2u * pair; i1 = i0 + 1u; isFirst = d % 2u == 0u;
  } else {
    pair = d % half; i0 = base + pair; i1 = i0 + half; isFirst = d < half;
  }
  let c = Cos[t * half + pair];
  let s = pf(6) * Sin[t * half + pair];
  let a = X[i0];
  let b = X[i1];
  Y[i] = select(b * c + a * s, a * c - b * s, isFirst);
}`;

export const ropeKernel: Kernel<RopeAttrs> = (
  [x, cos, sin],
  { rotaryDim, interleaved, inverse, layout = 0 },
) => {
  const shape = x!.shape;
  const n = sizeOf(shape);
  const { seq, heads } = ropeAxes(shape, layout);
  const words = new Words()
    .u(n)
    .u(shape[shape.length - 1]!)
    .u(heads)
    .u(seq)
    .u(rotaryDim)
    .u(interleaved ? 1 : 0)
    .f(inverse ? -1 : 1)
    .u(layout);
  const y = alloc(n);
  runtime().dispatch(ropeShader, [buf(x!), buf(cos!), buf(sin!), y.buffer], words, grid(Math.ceil(n / wg)));
  return [y];
};

/**
 * AdamW on `count` tensors at once (bindings P, G, M, V of each), one element per thread; each workgroup
 * belongs to one tensor. Words: 0 workgroups, 1 lr, 2 beta1, 3 beta2, 4 eps, 5 1 − beta1^step,
 * 6 1 − beta2^step, 7 gradient scale, 8.. sizes[count], 8 + count.. weight decays[count],
 * 8 + 2·count.. first workgroup of each tensor[count].
 */
function adamwShader(count: number): string {
  const tensors = Array.from({ length: count }, (_, t) => t);
  const bindings = tensors.flatMap((t) =>
    ['P', 'G', 'M', 'V'].map(
      (name, k) =>
        `@group(0) @binding(${4 * t + k + 1}) var<storage, ${name === 'G' ? 'read' : 'read_write'}> ${name}${t}: array<f32>;`,
    ),
  );
  const update = (t: number) => `if (t == ${t}u) {
    let g = G${t}[i] * pf(7u);
    let m = beta1 * M${t}[i] + (1.0 - beta1) * g;
    let v = beta2 * V${t}[i] + (1.0 - beta2) * g * g;
    M${t}[i] = m;
    V${t}[i] = v;
    let p = P${t}[i];
    P${t}[i] = p - lr * ((m / pf(5u)) / (sqrt(v / pf(6u)) + pf(4u)) + decay * p);
  }`;
  return `${header}
${bindings.join('\n')}
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let group = linearGroup(wid, nwg);
  if (group >= pu(0)) { return; }
  var t = 0u;
  ${tensors
    .slice(1)
    .map((t) => `if (group >= pu(${8 + 2 * count + t}u)) { t = ${t}u; }`)
    .join('\n  ')}
  let i = (group - pu(${8 + 2 * count}u + t)) * ${wg}u + lid;
  if (i >= pu(8u + t)) { return; }
  let lr = pf(1u); let beta1 = pf(2u); let beta2 = pf(3u);
  let decay = pf(${8 + count}u + t);
  ${tensors.map(update).join(' else ')}
}`;
}

/** Tensors per AdamW dispatch: four bindings each, at most 16 bindings. */
function adamwTensorsPerDispatch(): number {
  return Math.max(1, Math.floor(Math.min(16, runtime().device.limits.maxStorageBuffersPerShaderStage) / 4));
}

/** In place on (param, grad, m, v) of each tensor, several tensors per dispatch. */
export const adamwKernel: Kernel<AdamWAttrs> = (inputs, attrs) => {
  const { lr, beta1, beta2, eps, step, gradScale = 1 } = attrs;
  const perDispatch = adamwTensorsPerDispatch();
  const count = inputs.length / 4;
  for (let first = 0; first < count; first += perDispatch) {
    const tensors = Array.from({ length: Math.min(perDispatch, count - first) }, (_, k) => first + k);
    const sizes = tensors.map((t) => sizeOf(inputs[4 * t]!.shape));
    const starts: number[] = [];
    let groups = 0;
    for (const size of sizes) {
      starts.push(groups);
      groups += Math.ceil(size / wg);
    }
    const words = new Words()
      .u(groups)
      .f(lr)
      .f(beta1)
      .f(beta2)
      .f(eps)
      .f(1 - beta1 ** step)
      .f(1 - beta2 ** step)
      .f(gradScale)
      .us(sizes);
    for (const t of tensors) words.f(decayOf(attrs, t));
    words.us(starts);
    const code = memoShader(`adamw ${tensors.length}`, () => adamwShader(tensors.length));
    const buffers = tensors.flatMap((t) => inputs.slice(4 * t, 4 * t + 4).map(buf));
    runtime().dispatch(code, buffers, words, grid(groups));
  }
  return [];
};
