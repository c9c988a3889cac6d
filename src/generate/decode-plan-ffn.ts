/// <reference types="@webgpu/types" />
/**
 * The FFN half of a planned decode layer for a dense FFN, recorded into a StepRecorder: [norm·]gate/up
 * with the activation (gated: act(gate)·up; standard: act(up)) → down (+ residual, and with parallel
 * blocks the waiting attention branch, added in the eager order (x + attn) + ffn). 2 dispatches.
 */
import type { LayerSpec } from '../config/layer-plan.js';
import type { BufferRange } from './decode-plan-dispatch.js';
import type { StepRecorder } from './decode-plan-record.js';

export interface FFNLayerArgs {
  slot: number;
  layer: LayerSpec;
  /** The residual stream (the FFN's input; updated unless `out` is another buffer). */
  x: BufferRange;
  /** Scratch for the activations [intermediate]. */
  hidden: BufferRange;
  /** The up projection normalises its input (false with post-norms). */
  preNorm: boolean;
  /** x (residual add) or the branch buffer a norm + residual dispatch adds later (store). */
  out: BufferRange;
  /** Parallel blocks: the attention branch, added with the FFN's output. */
  extra: BufferRange | null;
}

export function recordDenseFFN(rec: StepRecorder, args: FFNLayerArgs): void {
  const { slot, layer, x, hidden, preNorm } = args;
  const c = rec.model.config;
  const d = c.hiddenSize;
  const inter = layer.intermediateSize;
  const p = `model.layers.${layer.index}`;
  const mlp = `${p}.mlp`;
  const ffnNorm =
    c.normPlacement === 'sandwich'
      ? 'pre_feedforward_layernorm'
      : c.blockTopology === 'parallel'
        ? 'input_layernorm'
        : 'post_attention_layernorm';
  if (c.ffnType === 'gated') {
    const upBias = rec.concatBias([
      { path: c.mlpBias ? `${mlp}.gate_proj.bias` : null, size: inter },
      { path: c.mlpBias ? `${mlp}.up_proj.bias` : null, size: inter },
    ]);
    rec.matvec(
      `layer ${slot} norm·gate/up·act`,
      {
        k: d,
        sources: [inter, inter],
        ...(preNorm ? rec.normSpec() : { normEps: null }),
        gateActivation: c.hiddenAct === 'gelu_tanh' ? 'gelu_tanh' : 'silu',
        bias: upBias !== null,
        epilogue: 'siluMul',
        weights: rec.formatFor(d),
      },
      [
        x,
        ...(preNorm ? rec.normBindings(`${p}.${ffnNorm}`) : []),
        rec.weight(`${mlp}.gate_proj.weight`),
        rec.weight(`${mlp}.up_proj.weight`),
        ...(upBias ? [upBias] : []),
        hidden,
      ],
    );
  } else {
    const upBias = rec.concatBias([{ path: c.mlpBias ? `${mlp}.up_proj.bias` : null, size: inter }]);
    rec.matvec(
      `layer ${slot} norm·up·act`,
      {
        k: d,
        sources: [inter],
        ...(preNorm ? rec.normSpec() : { normEps: null }),
        activation: c.hiddenAct as 'gelu' | 'gelu_tanh' | 'relu' | 'silu',
        bias: upBias !== null,
        epilogue: 'act',
        weights: rec.formatFor(d),
      },
      [
        x,
        ...(preNorm ? rec.normBindings(`${p}.${ffnNorm}`) : []),
        rec.weight(`${mlp}.up_proj.weight`),
        ...(upBias ? [upBias] : []),
        hidden,
      ],
    );
  }
  const downBias = rec.concatBias([{ path: c.mlpBias ? `${mlp}.down_proj.bias` : null, size: d }]);
  rec.matvec(
    `layer ${slot} down+residual`,
    {
      k: inter,
      sources: [d],
      normEps: null,
      bias: downBias !== null,
      epilogue: args.out === x ? 'residual' : 'store',
      weights: rec.formatFor(inter),
      residualScale: c.residualScale,
      residualExtra: args.extra !== null,
    },
    [
      hidden,
      rec.weight(`${mlp}.down_proj.weight`),
      ...(downBias ? [downBias] : []),
      args.out,
      ...(args.extra ? [args.extra] : []),
    ],
  );
}
