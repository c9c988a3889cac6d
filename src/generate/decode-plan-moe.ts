/// <reference types="@webgpu/types" />
/**
 * The FFN half of a planned decode layer for a mixture-of-experts layer (DeepSeek-V2/V3), recorded into
 * a StepRecorder: norm·router → route (top-k ids and weights on the GPU) → selected experts' gate/up →
 * [shared experts' norm·gate/up] → selected experts' down, weighted, + shared, + residual. 4 dispatches
 * (5 with shared experts). The routed experts' matrices are stacked into one buffer each ([E·I, d] for
 * gate and up, [E·d, I] for down, float32) when the plan is built, so a dispatch can pick its expert
 * from the route; that copies the expert weights once (the plan's 16-bit formats do not apply to them).
 */
import { expertDownShader, expertUpShader, routeShader } from '../backend/webgpu/decode/moe-decode.js';
import { packBf16StackOnDevice } from '../backend/webgpu/decode/pack.js';
import type { LayerSpec } from '../config/layer-plan.js';
import type { BufferRange } from './decode-plan-dispatch.js';
import { COPY_DST, STORAGE, StepRecorder } from './decode-plan-record.js';

export interface MoeLayerArgs {
  slot: number;
  layer: LayerSpec;
  /** The residual stream: normalised as the FFN's input, and the routed sum is added to it. */
  x: BufferRange;
}

export function recordMoeFFN(rec: StepRecorder, args: MoeLayerArgs): void {
  const c = rec.model.config;
  const moe = c.moe!;
  const { slot, layer, x } = args;
  const mlp = `model.layers.${layer.index}.mlp`;
  const d = c.hiddenSize;
  const E = moe.numExperts;
  const k = moe.numExpertsPerToken;
  const inter = moe.moeIntermediateSize;
  const sharedInter = moe.numSharedExperts > 0 ? inter * moe.numSharedExperts : 0;
  const bind = (path: string) => StepRecorder.tensorBinding(rec.param(path));
  const norm = `model.layers.${layer.index}.post_attention_layernorm`;

  const logits = rec.storage(E);
  rec.matvec(
    `layer ${slot} norm·router`,
    {
      k: d,
      sources: [E],
      ...rec.normSpec(),
      bias: false,
      epilogue: 'store',
      weights: rec.formatOf(`${mlp}.gate.weight`),
    },
    [x, ...rec.normBindings(norm), rec.weight(`${mlp}.gate.weight`), logits],
  );
  const route = rec.storage(2 * k);
  const correction = moe.correctionBias ? [bind(`${mlp}.gate.e_score_correction_bias`)] : [];
  rec.add(`layer ${slot} route`, routeShader(moe), [logits, route, ...correction], 1);

  const stack = (name: string, k: number) =>
    stackWeights(
      rec,
      Array.from({ length: E }, (_, e) => `${mlp}.experts.${e}.${name}.weight`),
      k,
    );
  const gate = stack('gate_proj', d);
  const up = stack('up_proj', d);
  const hidden = rec.storage(k * inter);
  rec.add(
    `layer ${slot} experts gate/up`,
    expertUpShader(d, inter, k, c.norm.eps, c.norm.plusOne, gate.format),
    [x, bind(`${norm}.weight`), route, gate.buffer, up.buffer, hidden],
    k * Math.ceil(inter / 8),
  );
  const shared: (GPUBuffer | GPUBufferBinding)[] = [];
  if (sharedInter > 0) {
    const hs = rec.storage(sharedInter);
    const s = `${mlp}.shared_experts`;
    rec.matvec(
      `layer ${slot} norm·shared gate/up`,
      {
        k: d,
        sources: [sharedInter, sharedInter],
        ...rec.normSpec(),
        bias: false,
        epilogue: 'siluMul',
        weights: rec.formatOf(`${s}.gate_proj.weight`),
      },
      [
        x,
        ...rec.normBindings(norm),
        rec.weight(`${s}.gate_proj.weight`),
        rec.weight(`${s}.up_proj.weight`),
        hs,
      ],
    );
    shared.push(bind(`${s}.down_proj.weight`), hs);
  }
  const down = stack('down_proj', inter);
  rec.add(
    `layer ${slot} experts down+residual`,
    expertDownShader(d, inter, k, sharedInter, down.format),
    [route, down.buffer, hidden, x, ...shared],
    Math.ceil(d / 8),
  );
}

/**
 * The matrices at `paths` (each with `k` columns) stacked along their rows for kernels that index them
 * by a routed id: bf16 when the plan streams bf16 weights (packed on the device, one tensor at a time,
 * so no float32 stack is made), else float32.
 */
function stackWeights(
  rec: StepRecorder,
  paths: readonly string[],
  k: number,
): { buffer: GPUBuffer; format: 'f32' | 'bf16' } {
  if (rec.weightFormat !== 'bf16' || rec.formatFor(k) === 'f32')
    return { buffer: rec.stack(paths), format: 'f32' };
  const sources = paths.map((path) => {
    const t = rec.param(path);
    return { binding: StepRecorder.tensorBinding(t), elements: t.size };
  });
  const bytes = sources.reduce((n, s) => n + s.elements * 2, 0);
  const buffer = rec.buffer(Math.ceil(bytes / 16) * 16, STORAGE | COPY_DST);
  packBf16StackOnDevice(rec.backend.runtime, sources, buffer);
  return { buffer, format: 'bf16' };
}
