/**
 * The small kernels around the planned decode step's layers: the token embedding (first dispatch),
 * the sandwich norm's residual add, and the argmax over the LM head's per-workgroup partials (last).
 */

import { bf16Element } from '../shader.js';
import { stepUniformWGSL } from './attention-decode.js';
import { wgslFloat } from './matvec-fused.js';

/**
 * x = E[token]·scale (+ P[pos] with learned positions): the token id in tokens[0], written by the host
 * or the previous step's argmax; scale: the config's embedding scale (Gemma's √hidden), else none;
 * P: GPT-2's position table, read at the step's position (binding 0, then 4); E bf16-packed when
 * `packed` (a model loaded with gpuWeights 'bf16').
 */
export function embeddingShader(
  hidden: number,
  scale: number | null = null,
  positions = false,
  packed = false,
): string {
  const row = `tokens[0] * ${hidden}u + i`;
  return `${positions ? `${stepUniformWGSL}\n` : ''}@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> E: array<${packed ? 'u32' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
${positions ? '@group(0) @binding(4) var<storage, read> P: array<f32>;' : ''}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 256u + lid;
  if (i < ${hidden}u) {
    x[i] = ${packed ? bf16Element('E', row) : `E[${row}]`}${scale === null ? '' : ` * ${wgslFloat(scale)}`}${positions ? ` + P[step.pos * ${hidden}u + i]` : ''};
  }
}`;
}

/**
 * Sandwich norm's residual add (Gemma2/3): x += RMSNorm(branch)·w (or ·(1 + w)), over the whole hidden
 * vector in one workgroup (the branch output is complete only after the previous dispatch).
 */
export function normAddShader(hidden: number, eps: number, plusOne: boolean): string {
  return `@group(0) @binding(1) var<storage, read> branch: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var ss = 0.0;
  for (var i = lid; i < ${hidden}u; i += 256u) { let v = branch[i]; ss += v * v; }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / ${wgslFloat(hidden)} + ${wgslFloat(eps)});
  for (var i = lid; i < ${hidden}u; i += 256u) {
    x[i] = x[i] + branch[i] * inv * ${plusOne ? '(w[i] + 1.0)' : 'w[i]'};
  }
}`;
}

/** Final argmax over the LM head's per-workgroup (max, index) pairs; ties go to the lower index. */
export function argmaxCombineShader(blocks: number): string {
  return `@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
var<workgroup> vals: array<f32, 256>;
var<workgroup> idxs: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var bv = -3.0e38;
  var bi = 4.0e9;
  for (var b = lid; b < ${blocks}u; b += 256u) {
    let v = partial[2u * b];
    let i = partial[2u * b + 1u];
    if (v > bv || (v == bv && i < bi)) { bv = v; bi = i; }
  }
  vals[lid] = bv;
  idxs[lid] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let v = vals[lid + s];
      let i = idxs[lid + s];
      if (v > vals[lid] || (v == vals[lid] && i < idxs[lid])) { vals[lid] = v; idxs[lid] = i; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { tokens[0] = u32(idxs[0]); }
}`;
}
