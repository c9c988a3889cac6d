/**
 * The matrix-vector kernel of a planned decode step (batch 1), with the neighbouring ops fused in:
 * RMSNorm of the input (Σx² recomputed per workgroup after the dot — the weight loads do not wait for
 * the reduction — and folded in as one scale), several
 * weight matrices stacked along the output (q/k/v, or gate/up paired per row), an optional bias and
 * one epilogue: store, residual add (out += W·x), SiLU(gate)·up, or logits plus a per-workgroup argmax.
 *
 * Layout: W [N, K] row-major (the nn.Linear weight); 256-thread workgroups of 32, 64 or 128 lanes per
 * row (`matvecLanes`) striding over K with vec4 loads when K % 4 = 0; lane sums reduced through
 * workgroup memory. Every size is a WGSL constant (one shader per shape), so the dispatch needs no
 * parameter block.
 */

export type MatvecEpilogue = 'store' | 'residual' | 'siluMul' | 'argmax' | 'act';

export interface FusedMatvecSpec {
  /** Input length (columns of every weight). */
  k: number;
  /** Rows of each weight matrix, stacked in output order ('siluMul': [I, I], gate then up, paired). */
  sources: readonly number[];
  /** RMSNorm of the input with this eps (weights bound after the input). */
  normEps: number | null;
  /** The norm scales by (1 + w) (Gemma) instead of w. */
  normPlusOne?: boolean;
  /** LayerNorm (mean removed, then scaled; GPT-2, Pythia, Phi, StableLM) instead of RMSNorm. */
  normType?: 'rmsnorm' | 'layernorm';
  /** LayerNorm bias (bound after its weight). */
  normBias?: boolean;
  /** 'act' epilogue: out = act(W·x + b) (a standard FFN's up projection). */
  activation?: 'gelu' | 'gelu_tanh' | 'relu' | 'silu';
  /**
   * 'residual' epilogue with a second branch (parallel blocks): out = (out + extra) + W·x, the order of
   * the eager path's x + attn + ffn; `extra` is bound after `out`.
   */
  residualExtra?: boolean;
  /** 'siluMul' epilogue's activation of the gate: SiLU (default) or tanh-approximated GELU (Gemma). */
  gateActivation?: 'silu' | 'gelu_tanh';
  /** 'argmax' epilogue: logits soft-capped as cap·tanh(v / cap) before they are stored and compared. */
  logitSoftcap?: number | null;
  /** 'argmax' epilogue: logits scaled by this first (MiniCPM's 1 / (hidden / dim_model_base)). */
  logitScale?: number | null;
  /** 'residual' epilogue: the branch is scaled before the add (MiniCPM's scale_depth / √layers). */
  residualScale?: number | null;
  /** A bias buffer over the stacked rows (siluMul: [gate bias | up bias]). */
  bias: boolean;
  epilogue: MatvecEpilogue;
  /** Weight storage: f32, or two 16-bit values per u32 (needs K % 8 = 0: one vec4<u32> = 8 weights). */
  weights?: WeightFormat;
  /**
   * Reduce with subgroupAdd (one barrier per reduction instead of a barrier tree). Needs the subgroups
   * feature, subgroups of at most 32 invocations formed from consecutive local indices (Vulkan on
   * NVIDIA: 32; lavapipe: 8).
   */
  subgroups?: boolean;
  /**
   * The device's smallest and largest subgroup sizes (with `subgroups`; default 0 and 32). Rows of at
   * most `subgroupMin` lanes reduce with subgroupShuffleXor (no workgroup memory, no barrier); rows of
   * at least `subgroupMax` lanes with subgroupAdd; other widths with the barrier tree.
   */
  subgroupMin?: number;
  subgroupMax?: number;
  /**
   * The input is the attention's split partials [H, splits, hd + 2] (running max, sum, unnormalised
   * output per split), merged in workgroup memory before the dot (the flash-decoding combine, fused
   * into the o-projection so that it costs no dispatch of its own). Only the splits that start before
   * the step's length (binding 0, the step uniform) are read. K must be heads·headDim.
   */
  combine?: { heads: number; headDim: number; splits: number; chunk: number };
  /** Lanes per output row (4 to 256, a power of 2; default `matvecLanes`): 256 / lanes rows a workgroup. */
  lanes?: number;
  /**
   * 'argmax' epilogue: blocks of rows each workgroup walks in turn (default: enough for ~2048
   * workgroups), so that an LM head of 150k rows writes ~2k argmax partials, not ~19k, and each
   * workgroup's norm prologue serves many rows.
   */
  rowBlocks?: number;
  /** Most strides a lane's loop issues per iteration (default 4; 1 for the paired gate/up). */
  unroll?: number;
  /**
   * All sources in one binding (W0), source s starting `sourceOffsets[s]` array elements in (vec4s):
   * one binding instead of one per matrix where the plan placed them in one buffer.
   */
  sourceOffsets?: readonly number[];
}

/** tanh without overflow for large |x| (soft-caps). */
export const tanhSafeWGSL = /* wgsl */ `fn tanhSafe(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}`;

import { wgslMath } from '../kernels/wgsl-math.js';
import { packedDotWGSL, type WeightFormat } from './half.js';
import { combinePrologue } from './matvec-combine.js';
import {
  matvecLanes,
  matvecOutputs,
  matvecRowsPerGroup,
  rowBlocksOf,
  unrollFor,
  vectorsPerRow,
  wgslFloat,
} from './matvec-layout.js';

export { combineWorkgroupBytes } from './matvec-combine.js';

export {
  matvecLanes,
  matvecOutputs,
  matvecRowsPerGroup,
  wgslFloat,
} from './matvec-layout.js';

/** Binding order: x, [norm weight], weights…, [bias], out, [argmax partials]. */
export function fusedMatvecShader(spec: FusedMatvecSpec): string {
  const { k, sources, normEps, bias, epilogue } = spec;
  if (epilogue === 'siluMul' && (sources.length !== 2 || sources[0] !== sources[1]))
    throw new Error('siluMul pairs two sources of equal rows (gate, up)');
  const weights = spec.weights ?? 'f32';
  const packed = weights !== 'f32';
  if (packed && k % 8 !== 0) throw new Error(`16-bit matvec weights need K % 8 = 0, got K = ${k}`);
  const vec = k % 4 === 0;
  const elem = vec ? 'vec4<f32>' : 'f32';
  const kv = vec ? k / 4 : k;
  // Packed: one vec4<u32> holds the weights of two input vec4s (index i over K / 8).
  const kw = vectorsPerRow(spec);
  const nOut = matvecOutputs(spec);
  const combine = spec.combine;
  if (combine && (normEps !== null || combine.heads * combine.headDim !== k))
    throw new Error('a combine prologue needs no norm and K = heads·headDim');
  // Every binding is a fixed-size array of exactly what the kernel reads or writes (the buffers bound
  // may be longer): robustness clamps then compare with constants instead of each buffer's length.
  let binding = 1;
  const decl: string[] = [];
  const bind = (name: string, type: string, access: 'read' | 'read_write', count: number) =>
    decl.push(
      `@group(0) @binding(${binding++}) var<storage, ${access}> ${name}: array<${type}, ${Math.max(1, count)}>;`,
    );
  if (combine) bind('part', 'f32', 'read', combine.heads * combine.splits * (combine.headDim + 2));
  else bind('x', elem, 'read', kv);
  const layerNorm = normEps !== null && spec.normType === 'layernorm';
  if (normEps !== null) bind('nw', elem, 'read', kv);
  if (layerNorm && spec.normBias) bind('nb', elem, 'read', kv);
  const offsets = spec.sourceOffsets;
  if (offsets && (offsets.length !== sources.length || offsets.some((o) => !Number.isInteger(o) || o < 0)))
    throw new Error('sourceOffsets needs one non-negative integer offset per source');
  if (offsets)
    bind('W0', packed ? 'vec4<u32>' : elem, 'read', Math.max(...offsets.map((o, i) => o + sources[i]! * kw)));
  else
    sources.forEach((rows, i) => {
      bind(`W${i}`, packed ? 'vec4<u32>' : elem, 'read', rows * kw);
    });
  // Source s's element at index `i` (its own row-major layout).
  const w = (src: number, i: string) => (offsets ? `W0[${offsets[src]}u + ${i}]` : `W${src}[${i}]`);
  const stacked = sources.reduce((a, b) => a + b, 0);
  if (bias) bind('bias', 'f32', 'read', stacked);
  bind('out', 'f32', 'read_write', nOut);
  if (spec.residualExtra) bind('extra', 'f32', 'read', nOut);
  if (epilogue === 'argmax')
    bind('partial', 'f32', 'read_write', 2 * Math.ceil(nOut / matvecRowsPerGroup(spec)));

  const normWeight = (i: string) => (spec.normPlusOne ? `(nw[${i}] + 1.0)` : `nw[${i}]`);
  const input = (i: string) =>
    combine
      ? `xs[${i}]`
      : layerNorm
        ? `((x[${i}] - mu) * rs * nw[${i}]${spec.normBias ? ` + nb[${i}]` : ''})`
        : normEps !== null
          ? `x[${i}] * ${normWeight(i)}`
          : `x[${i}]`;
  const dot = (w: string, i: string) =>
    packed
      ? `dotPacked(${w}, ${input(`2u * ${i}`)}, ${input(`2u * ${i} + 1u`)})`
      : vec
        ? `dot(${w}, ${input(i)})`
        : `${w} * ${input(i)}`;
  const paired = epilogue === 'siluMul';
  // The lanes of a row stride over its kw vectors with a constant trip count, unrolled so that the
  // loads of several strides are in flight at once; the strides past the end clamp their index and
  // mask the product instead of branching (the kernel is latency-bound at batch 1).
  const lanes = matvecLanes(spec);
  const rowsPer = 256 / lanes;
  const trips = Math.ceil(kw / lanes);
  if (spec.unroll !== undefined && !(Number.isInteger(spec.unroll) && spec.unroll >= 1 && spec.unroll <= 64))
    throw new Error(`matvec unroll must be an integer in [1, 64], got ${spec.unroll}`);
  // The LM head's short rows are unrolled whole up to 16 strides (Qwen2.5-0.5B, 14: 92.7 → 86.4 µs on
  // the H200; SmolLM2's 9 unchanged; Llama's 32 stay at 4, 16 measured no better).
  const defaultUnroll = epilogue === 'siluMul' ? 1 : epilogue === 'argmax' && trips <= 16 ? trips : 4;
  const unroll = unrollFor(trips, spec.unroll ?? defaultUnroll);
  const ragged = Math.ceil(trips / unroll) * unroll * lanes !== kw;
  const strided = (body: (term: (product: string) => string, u: number) => string) =>
    `for (var j = 0u; j < ${Math.ceil(trips / unroll)}u; j++) {
      ${Array.from({ length: unroll }, (_, u) => {
        const index = `i${u}`;
        return `let raw${u} = lane + (j * ${unroll}u + ${u}u) * ${lanes}u;
      let ${index} = ${ragged ? `min(raw${u}, ${kw - 1}u)` : `raw${u}`};
      ${ragged ? `let live${u} = select(0.0, 1.0, raw${u} < ${kw}u);` : ''}`;
      }).join('\n      ')}
      ${Array.from({ length: unroll }, (_, u) => body((product) => (ragged ? `live${u} * ${product}` : product), u)).join('\n      ')}
    }`;
  // The o-projection's combine prologue reads the attention partials first: its weights are loaded
  // into registers before the prologue (one memory round trip for both) when a lane's share is short.
  const prefetchW = combine !== undefined && sources.length === 1 && trips <= 8;
  const prefetch = prefetchW
    ? Array.from(
        { length: trips },
        (_, t) =>
          `let wp${t} = ${w(0, `min(row, ${nOut - 1}u) * ${kw}u + min(lane + ${t * lanes}u, ${kw - 1}u)`)};`,
      ).join('\n  ')
    : '';
  let accumulate: string;
  if (prefetchW) {
    accumulate = Array.from({ length: trips }, (_, t) => {
      const i = `min(lane + ${t * lanes}u, ${kw - 1}u)`;
      const product = dot(`wp${t}`, `pi${t}`);
      const live = (t + 1) * lanes > kw ? `select(0.0, 1.0, lane + ${t * lanes}u < ${kw}u) * ` : '';
      return `{ let pi${t} = ${i}; acc0 += ${live}${product}; }`;
    }).join('\n    ');
  } else if (paired) {
    accumulate = `let base = row * ${kw}u;
    ${strided((term, u) => `acc0 += ${term(dot(w(0, `base + i${u}`), `i${u}`))}; acc1 += ${term(dot(w(1, `base + i${u}`), `i${u}`))};`)}`;
  } else {
    let start = 0;
    accumulate = sources
      .map((rows, s) => {
        const cond = s === sources.length - 1 ? '' : `if (row < ${start + rows}u) `;
        const code = `${cond}{ let base = (row - ${start}u) * ${kw}u;
      ${strided((term, u) => `acc0 += ${term(dot(w(s, `base + i${u}`), `i${u}`))};`)} }`;
        start += rows;
        return code;
      })
      .join(' else ');
  }
  const sg = spec.subgroups ?? false;
  // A row's lane sums: shuffles within a subgroup when the row fits in the smallest one, subgroupAdd
  // when a row spans whole subgroups of any size the device forms, else the barrier tree.
  const laneMode: 'shuffle' | 'subgroupAdd' | 'tree' = !sg
    ? 'tree'
    : lanes <= (spec.subgroupMin ?? 0)
      ? 'shuffle'
      : lanes >= (spec.subgroupMax ?? 32)
        ? 'subgroupAdd'
        : 'tree';
  // Subgroup reductions keep one slot per subgroup (subgroups of at least 4); barrier trees one per
  // invocation. Less workgroup memory is less for Dawn to zero at every workgroup's start.
  const reduceSlots = laneMode === 'tree' ? 256 : 64;
  const sumSquares = sg
    ? `let sgSquares = subgroupAdd(ss);
  if (sid == 0u) { red0[lid / sgSize] = sgSquares; }
  workgroupBarrier();
  var total = 0.0;
  for (var j = 0u; j < 256u / sgSize; j++) { total += red0[j]; }`
    : `red0[lid] = ss;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red0[lid] += red0[lid + s]; }
    workgroupBarrier();
  }
  let total = red0[0];`;
  const norm =
    normEps === null
      ? ''
      : `var ss = 0.0;
  for (var i = lid; i < ${kv}u; i += 256u) { let v = x[i]; ss += ${vec ? 'dot(v, v)' : 'v * v'}; }
  ${sumSquares}
  inv = 1.0 / sqrt(total / ${wgslFloat(k)} + ${wgslFloat(normEps)});
  workgroupBarrier();`;
  // LayerNorm needs its mean before the dot: two workgroup sums (Σx, then Σ(x − μ)²) up front.
  const reduceSum = (v: string, out: string) =>
    sg
      ? `let ${v}Sg = subgroupAdd(${v});
  if (sid == 0u) { red0[lid / sgSize] = ${v}Sg; }
  workgroupBarrier();
  var ${out} = 0.0;
  for (var j = 0u; j < 256u / sgSize; j++) { ${out} += red0[j]; }
  workgroupBarrier();`
      : `red0[lid] = ${v};
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red0[lid] += red0[lid + s]; }
    workgroupBarrier();
  }
  let ${out} = red0[0];
  workgroupBarrier();`;
  const lnPrologue = layerNorm
    ? `var s1 = 0.0;
  for (var i = lid; i < ${kv}u; i += 256u) { s1 += ${vec ? 'dot(x[i], vec4<f32>(1.0))' : 'x[i]'}; }
  ${reduceSum('s1', 'lnSum')}
  let mu = lnSum / ${wgslFloat(k)};
  var s2 = 0.0;
  for (var i = lid; i < ${kv}u; i += 256u) { let dv = x[i] - mu; s2 += ${vec ? 'dot(dv, dv)' : 'dv * dv'}; }
  ${reduceSum('s2', 'lnSquares')}
  let rs = 1.0 / sqrt(lnSquares / ${wgslFloat(k)} + ${wgslFloat(normEps!)});`
    : '';
  let prologue = lnPrologue;
  let combineDecl = '';
  if (combine) ({ decl: combineDecl, prologue } = combinePrologue(combine, k, vec, elem, kv));
  // Each row's 32 lane sums, reduced to sum0 (and sum1 when paired) at lane 0.
  const shuffles = (v: string) =>
    Array.from(
      { length: Math.log2(lanes) },
      (_, i) => `${v} += subgroupShuffleXor(${v}, ${lanes >> (i + 1)}u);`,
    ).join('\n  ');
  const laneReduce =
    laneMode === 'shuffle'
      ? `var sum0 = acc0;
  var sum1 = acc1;
  ${shuffles('sum0')}
  ${paired ? shuffles('sum1') : ''}`
      : laneMode === 'subgroupAdd'
        ? `let sg0 = subgroupAdd(acc0);
  ${paired ? 'let sg1 = subgroupAdd(acc1);' : ''}
  if (sid == 0u) {
    red0[lid / sgSize] = sg0;
    ${paired ? 'red1[lid / sgSize] = sg1;' : ''}
  }
  workgroupBarrier();
  var sum0 = 0.0;
  var sum1 = 0.0;
  if (lane == 0u) {
    for (var j = 0u; j < ${lanes}u / sgSize; j++) {
      sum0 += red0[lid / sgSize + j];
      ${paired ? 'sum1 += red1[lid / sgSize + j];' : ''}
    }
  }`
        : `red0[lid] = acc0;
  ${paired ? 'red1[lid] = acc1;' : ''}
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) {
      red0[lid] += red0[lid + s];
      ${paired ? 'red1[lid] += red1[lid + s];' : ''}
    }
    workgroupBarrier();
  }
  let sum0 = red0[lid];
  ${paired ? 'let sum1 = red1[lid];' : ''}`;
  // Outside the argmax epilogue (which walks row blocks), the epilogue's loads of the bias and the
  // residual are issued at the kernel's start with the weights' (a memory round trip fewer at the end).
  const early = epilogue !== 'argmax';
  const rowC = `min(row, ${nOut - 1}u)`;
  const preloads = !early
    ? []
    : [
        ...(bias ? [`let bias0 = bias[${rowC}];`] : []),
        ...(bias && paired ? [`let bias1 = bias[${nOut}u + ${rowC}];`] : []),
        ...(epilogue === 'residual' ? [`let resid = out[${rowC}];`] : []),
        ...(epilogue === 'residual' && spec.residualExtra ? [`let residExtra = extra[${rowC}];`] : []),
      ];
  const b = (index: string) =>
    !bias ? '' : early ? ` + ${index === 'row' ? 'bias0' : 'bias1'}` : ` + bias[${index}]`;
  let epilogueCode: string;
  switch (epilogue) {
    case 'store':
      epilogueCode = `out[row] = sum0 * inv${b('row')};`;
      break;
    case 'residual': {
      const base = spec.residualExtra ? '(resid + residExtra)' : 'resid';
      epilogueCode = `out[row] = ${base} + (sum0 * inv${b('row')})${spec.residualScale != null ? ` * ${wgslFloat(spec.residualScale)}` : ''};`;
      break;
    }
    case 'act': {
      const acts = {
        gelu: 'gelu_(v)',
        gelu_tanh: `v / (1.0 + exp(${wgslFloat(-2 * Math.sqrt(2 / Math.PI))} * (v + 0.044715 * v * v * v)))`,
        relu: 'max(v, 0.0)',
        silu: 'v / (1.0 + exp(-v))',
      };
      epilogueCode = `let v = sum0 * inv${b('row')};
    out[row] = ${acts[spec.activation ?? 'gelu']};`;
      break;
    }
    case 'siluMul': {
      // gelu_tanh as x·σ(2u) (= 0.5·x·(1 + tanh u)), the form that keeps the far negative tail in f32.
      const act =
        spec.gateActivation === 'gelu_tanh'
          ? `g / (1.0 + exp(${wgslFloat(-2 * Math.sqrt(2 / Math.PI))} * (g + 0.044715 * g * g * g)))`
          : 'g / (1.0 + exp(-g))';
      epilogueCode = `let g = sum0 * inv${b('row')};
    let u = sum1 * inv${b(`${nOut}u + row`)};
    out[row] = ${act} * u;`;
      break;
    }
    case 'argmax':
      epilogueCode = `var v = (sum0 * inv${b('row')})${spec.logitScale != null ? ` * ${wgslFloat(spec.logitScale)}` : ''};
    ${spec.logitSoftcap ? `v = ${wgslFloat(spec.logitSoftcap)} * tanhSafe(v / ${wgslFloat(spec.logitSoftcap)});` : ''}
    out[row] = v;
    if (v > bestV) { bestV = v; bestI = row; }`;
      break;
  }
  // Each slot keeps its best row over the blocks it walks; slot order is not row order, so ties go to
  // the lower row explicitly (the argmax combine across workgroups does the same).
  const argmaxTail =
    epilogue === 'argmax'
      ? `
  if (lane == 0u) { best[slot] = bestV; bestIdx[slot] = bestI; }
  workgroupBarrier();
  if (lid == 0u) {
    var bv = best[0];
    var bi = bestIdx[0];
    for (var t = 1u; t < ${rowsPer}u; t++) {
      if (best[t] > bv || (best[t] == bv && bestIdx[t] < bi)) { bv = best[t]; bi = bestIdx[t]; }
    }
    partial[2u * block] = bv;
    partial[2u * block + 1u] = f32(bi);
  }`
      : '';
  const rowBlocks = rowBlocksOf(spec);
  // RMSNorm's Σx² is reduced after the dot, so that the weight loads do not wait for it, except where
  // an argmax workgroup walks several row blocks (once, before them).
  const normFirst = epilogue === 'argmax' && rowBlocks > 1;
  // One block of rows: the dot, (RMSNorm's Σx²), the lane sums and the epilogue.
  const rowBody = `var acc0 = 0.0;
  var acc1 = 0.0;
  if (row < ${nOut}u) {
    ${accumulate}
  }
  ${combine || layerNorm || normFirst ? '' : norm}
  ${laneReduce}
  if (lane == 0u && row < ${nOut}u) {
    ${epilogueCode}
  }`;
  const unpack = packed ? packedDotWGSL(weights) : '';
  const tanhHelper = `${spec.logitSoftcap ? tanhSafeWGSL : ''}${epilogue === 'act' && (spec.activation ?? 'gelu') === 'gelu' ? `alias T = f32;\n${wgslMath}` : ''}`;
  return `${sg ? 'enable subgroups;' : ''}
${tanhHelper}
${combineDecl}
${decl.join('\n')}
${unpack}
var<workgroup> red0: array<f32, ${reduceSlots}>;
${paired ? `var<workgroup> red1: array<f32, ${reduceSlots}>;` : ''}
${epilogue === 'argmax' ? `var<workgroup> best: array<f32, ${rowsPer}>;\nvar<workgroup> bestIdx: array<u32, ${rowsPer}>;` : ''}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32${sg ? ', @builtin(subgroup_size) sgSize: u32, @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let block = wid.x + wid.y * nwg.x;
  let slot = lid / ${lanes}u;
  let lane = lid % ${lanes}u;
  var inv = 1.0;
  ${epilogue === 'argmax' ? '' : `let row = block * ${rowsPer}u + slot;\n  ${[prefetch, ...preloads].join('\n  ')}`}
  ${prologue}
  ${
    epilogue === 'argmax'
      ? `${layerNorm || !normFirst ? '' : norm}
  var bestV = -3.0e38;
  var bestI = block * ${rowBlocks * rowsPer}u;
  for (var rb = 0u; rb < ${rowBlocks}u; rb++) {
    let row = (block * ${rowBlocks}u + rb) * ${rowsPer}u + slot;
    ${rowBody}
    workgroupBarrier();
  }`
      : rowBody
  }
${argmaxTail}
}`;
}
