/**
 * Tables of a per-dispatch GPU profile (src/backend/webgpu/profiler.ts): time per kernel (op and shader)
 * with its share of the step, and per matmul shape with the achieved TFLOP/s. Bytes are the op's
 * compulsory traffic (every input read once, every output written once; AdamW's in-place param, m and v
 * written too), so GB/s is a lower bound on what the kernel moved; it is shown for ops of one dispatch.
 */
import type { DispatchRecord, OpCall, Profile } from '../src/backend/webgpu/profiler.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Compulsory bytes of one op call (4-byte elements). */
function callBytes(call: OpCall): number {
  let elements = call.inputs.reduce((n, t) => n + size(t.shape), 0);
  elements += call.outputs.reduce((n, t) => n + size(t.shape), 0);
  if (call.op === 'adamw') elements += 3 * size(call.inputs[0]!.shape);
  return 4 * elements;
}

interface MatmulShape {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

function matmulShape(call: OpCall): MatmulShape {
  const { transA, transB } = call.attrs as { transA: boolean; transB: boolean };
  const a = call.inputs[0]!.shape;
  const b = call.inputs[1]!.shape;
  const out = call.outputs[0]!.shape;
  const m = transA ? a[a.length - 1]! : a[a.length - 2]!;
  const k = transA ? a[a.length - 2]! : a[a.length - 1]!;
  const n = transB ? b[b.length - 2]! : b[b.length - 1]!;
  return { batch: size(out.slice(0, -2)), m, n, k, transA, transB };
}

/** Query-key pairs a causal (or full) attention call scores: Σ over rows of the visible keys. */
function attentionPairs(call: OpCall): number {
  const q = call.inputs[0]!.shape;
  const k = call.inputs[1]!.shape;
  const [batch, heads, t] = q as [number, number, number];
  const s = k[2]!;
  const { causal, window } = call.attrs as { causal: boolean; window: number };
  let pairs = 0;
  for (let i = 0; i < t; i++) {
    const pos = i + s - t;
    let hi = causal ? pos + 1 : s;
    const lo = window >= 0 ? Math.max(0, pos - window + 1) : 0;
    hi = Math.min(hi, s);
    pairs += Math.max(0, hi - lo);
  }
  return batch * heads * pairs;
}

/** Useful FLOPs of one op call (matmul: 2MNK; attention: 4·pairs·D forward, 2.5× that backward). */
function callFlops(call: OpCall): number | null {
  if (call.op === 'matmul') {
    const { batch, m, n, k } = matmulShape(call);
    return 2 * batch * m * n * k;
  }
  if (call.op === 'flashAttention' || call.op === 'flashAttentionBackward') {
    const d = call.inputs[0]!.shape[3]!;
    const forward = 4 * attentionPairs(call) * d;
    return call.op === 'flashAttention' ? forward : 2.5 * forward;
  }
  return null;
}

interface Group {
  count: number;
  ms: number;
  bytes: number;
  flops: number;
  /** Every dispatch belongs to an op call of exactly one dispatch, so bytes are this kernel's own. */
  own: boolean;
}

function addTo(
  groups: Map<string, Group>,
  key: string,
  d: DispatchRecord,
  perCall: Map<OpCall, number>,
): void {
  let g = groups.get(key);
  if (!g) {
    g = { count: 0, ms: 0, bytes: 0, flops: 0, own: true };
    groups.set(key, g);
  }
  g.count++;
  g.ms += d.ms ?? 0;
  if (d.call) {
    const dispatchesOfCall = perCall.get(d.call)!;
    if (dispatchesOfCall !== 1) g.own = false;
    g.bytes += callBytes(d.call) / dispatchesOfCall;
    // A matmul's FLOPs belong to its product, not to a split-K sum; other ops' spread evenly.
    const flops = callFlops(d.call) ?? 0;
    if (d.call.op !== 'matmul') g.flops += flops / dispatchesOfCall;
    else if (!d.shader.startsWith('columnReduce')) g.flops += flops;
  } else {
    g.own = false;
  }
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;
const shorten = (s: string, n = 70) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Prints the kernel and matmul tables of a profile; `stepMs` is the unprofiled step time, if known. */
export function printProfile(profile: Profile, stepMs?: number): void {
  const { dispatches } = profile;
  const perCall = new Map<OpCall, number>();
  for (const d of dispatches) if (d.call) perCall.set(d.call, (perCall.get(d.call) ?? 0) + 1);
  const total = dispatches.reduce((t, d) => t + (d.ms ?? 0), 0);

  const byKernel = new Map<string, Group>();
  for (const d of dispatches) addTo(byKernel, `${d.call?.op ?? '(no op)'} | ${d.shader}`, d, perCall);
  const kernelRows = [...byKernel.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([key, g]) => ({
      kernel: shorten(key),
      dispatches: g.count,
      'total ms': Number(g.ms.toFixed(3)),
      share: pct(g.ms, total),
      'µs each': Number(((1000 * g.ms) / g.count).toFixed(1)),
      'GB/s': g.own && g.ms > 0 ? Number((g.bytes / (g.ms / 1000) / 1e9).toPrecision(3)) : '',
      'TFLOP/s': g.flops > 0 && g.ms > 0 ? Number((g.flops / (g.ms / 1000) / 1e12).toPrecision(3)) : '',
    }));

  // One row per shape and matmul shader; a split-K product's column sum counts with its product.
  const byShape = new Map<string, Group>();
  const shaderOfCall = new Map<OpCall, string>();
  for (const d of dispatches) {
    if (d.call?.op !== 'matmul') continue;
    if (!shaderOfCall.has(d.call)) shaderOfCall.set(d.call, d.shader);
    const s = matmulShape(d.call);
    const split = perCall.get(d.call)! > 1 ? ' + split-K sum' : '';
    const key = `${s.batch > 1 ? `${s.batch}× ` : ''}${s.m}×${s.n}×${s.k}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''} | ${shaderOfCall.get(d.call)}${split}`;
    addTo(byShape, key, d, perCall);
  }
  const matmulRows = [...byShape.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([key, g]) => ({
      'batch× M×N×K op | kernel': key,
      dispatches: g.count,
      'total ms': Number(g.ms.toFixed(3)),
      share: pct(g.ms, total),
      'TFLOP/s': g.ms > 0 ? Number((g.flops / (g.ms / 1000) / 1e12).toPrecision(3)) : '',
      'GB/s': g.ms > 0 ? Number((g.bytes / (g.ms / 1000) / 1e9).toPrecision(3)) : '',
    }));

  console.log(
    `\nGPU profile (${profile.mode}): ${dispatches.length} dispatches, ${total.toFixed(2)} ms summed over dispatches` +
      (profile.spanMs !== null
        ? `, ${profile.spanMs.toFixed(2)} ms from the first start to the last end`
        : '') +
      (stepMs !== undefined ? `, unprofiled step ${stepMs.toFixed(1)} ms` : '') +
      `; profiled run ${profile.wallMs.toFixed(1)} ms wall` +
      `\nnot timed: ${profile.copies.count} buffer copies (${(profile.copies.bytes / 1e6).toFixed(1)} MB), ` +
      `${profile.clears.count} clears (${(profile.clears.bytes / 1e6).toFixed(1)} MB)`,
  );
  console.table(kernelRows);
  console.log('\nmatmuls by shape (M×N×K of op(A)·op(B); Aᵀ/Bᵀ: the operand is read transposed)');
  console.table(matmulRows);
  const totalFlops = [...byShape.values()].reduce((t, g) => t + g.flops, 0);
  const matmulMs = [...byShape.values()].reduce((t, g) => t + g.ms, 0);
  console.log(
    `matmuls: ${matmulMs.toFixed(2)} ms (${pct(matmulMs, total)}), ${(totalFlops / 1e9).toFixed(1)} GFLOP, ` +
      `${(totalFlops / (matmulMs / 1000) / 1e12).toPrecision(3)} TFLOP/s`,
  );
  console.log(
    `JSON ${JSON.stringify({ profile: { mode: profile.mode, dispatches: dispatches.length, totalMs: total, spanMs: profile.spanMs, kernels: kernelRows, matmuls: matmulRows } })}`,
  );
}
