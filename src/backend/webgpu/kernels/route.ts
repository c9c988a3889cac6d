/**
 * Mixture-of-experts routing mask (routeTopK): one thread per token selects its top-k experts by score
 * (+ correction bias), within the best groups when routing is group-limited; semantics of the cpu
 * kernel in src/backend/cpu/nn.ts (ties to the lower index, masked groups scored 0). Up to 256 experts.
 */
import { sizeOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import type { RouteTopKAttrs } from '../../cpu/nn.js';
import { Words } from '../params.js';
import { alloc, buf, entryArgs, grid, header, runtime } from '../shader.js';

const wg = 64;
const maxExperts = 256;

// Words: tokens, experts, k, hasCorrection, numGroups, topkGroup, groupScore (0 max, 1 top-2 sum).
const routeShader = `${header}
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read> C: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let n = linearGroup(wid, nwg) * ${wg}u + lid;
  if (n >= pu(0)) { return; }
  let e = pu(1);
  let k = pu(2);
  let groups = pu(4);
  let size = e / groups;
  var choice: array<f32, ${maxExperts}>;
  var taken: array<bool, ${maxExperts}>;
  for (var j = 0u; j < e; j++) {
    choice[j] = S[n * e + j] + select(0.0, C[j], pu(3) == 1u);
    taken[j] = false;
    M[n * e + j] = 0.0;
  }
  if (groups > 1u) {
    var groupScore: array<f32, ${maxExperts}>;
    var keep: array<bool, ${maxExperts}>;
    for (var g = 0u; g < groups; g++) {
      var best = negInf();
      var second = negInf();
      for (var j = g * size; j < (g + 1u) * size; j++) {
        let v = choice[j];
        if (v > best) { second = best; best = v; } else if (v > second) { second = v; }
      }
      groupScore[g] = select(best + select(second, 0.0, size < 2u), best, pu(6) == 0u);
      keep[g] = false;
    }
    for (var r = 0u; r < pu(5); r++) {
      var pick = 0xffffffffu;
      for (var g = 0u; g < groups; g++) {
        if (!keep[g] && (pick == 0xffffffffu || groupScore[g] > groupScore[pick])) { pick = g; }
      }
      keep[pick] = true;
    }
    for (var j = 0u; j < e; j++) { if (!keep[j / size]) { choice[j] = 0.0; } }
  }
  for (var r = 0u; r < k; r++) {
    var pick = 0xffffffffu;
    for (var j = 0u; j < e; j++) {
      if (!taken[j] && (pick == 0xffffffffu || choice[j] > choice[pick])) { pick = j; }
    }
    taken[pick] = true;
    M[n * e + pick] = 1.0;
  }
}`;

export const routeTopKKernel: Kernel<RouteTopKAttrs> = (inputs, attrs, [out]) => {
  const scores = inputs[0]!;
  const experts = scores.shape[scores.shape.length - 1]!;
  if (experts > maxExperts)
    throw new Error(`webgpu routeTopK supports up to ${maxExperts} experts, got ${experts}`);
  const tokens = sizeOf(out!.shape) / experts;
  const mask = alloc(tokens * experts);
  const words = new Words()
    .u(tokens)
    .u(experts)
    .u(attrs.k)
    .u(attrs.hasCorrection ? 1 : 0)
    .u(attrs.numGroups)
    .u(attrs.topkGroup)
    .u(attrs.groupScore === 'max' ? 0 : 1);
  const correction = attrs.hasCorrection ? buf(inputs[1]!) : buf(scores);
  runtime().dispatch(
    routeShader,
    [buf(scores), correction, mask.buffer],
    words,
    grid(Math.ceil(tokens / wg)),
  );
  return [mask];
};
