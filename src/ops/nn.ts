/** Fused neural-network ops: softmax, cross-entropy, embedding, RMSNorm, LayerNorm, RoPE, argmax. */
import { record } from '../autograd/tape.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { div, mul, sub } from './elementwise.js';
import { floatDType, runKernel } from './kernel.js';
import { reshape } from './layout.js';
import { sum } from './reduce.js';

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  const dtype = floatDType('softmax', x);
  const [y] = runKernel('softmax', [x], {}, [{ shape: x.shape, dtype }]);
  // dx = y ⊙ (dy − Σ dy⊙y)
  return record(y!, 'softmax', [x], (dy) => [mul(y!, sub(dy, sum(mul(dy, y!), -1, true)))]);
}

/** Index of the largest entry along the last axis (int32). */
export function argmax(x: Tensor): Tensor {
  const [y] = runKernel('argmax', [x], {}, [{ shape: x.shape.slice(0, -1), dtype: 'int32' }]);
  return y!;
}

export interface CrossEntropyOptions {
  /** Target id that contributes nothing (default -100, as in PyTorch). */
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits [..., V] against int32 targets [...]: −log softmax(logits)[target], fused.
 * 'mean' divides by the number of non-ignored targets.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  { ignoreIndex = -100, reduction = 'mean' }: CrossEntropyOptions = {},
): Tensor {
  const dtype = floatDType('crossEntropy', logits);
  if (targets.dtype !== 'int32')
    throw new Error(`crossEntropy targets must be int32, got ${targets.describe()}`);
  const vocab = logits.shape[logits.rank - 1]!;
  const rows = logits.size / vocab;
  if (targets.size !== rows) {
    throw new Error(
      `crossEntropy: logits ${formatShape(logits.shape)} need ${rows} targets, got ${formatShape(targets.shape)}`,
    );
  }
  const flat = reshape(logits, [rows, vocab]);
  const attrs = { ignoreIndex };
  const [rowLoss, count] = runKernel('crossEntropy', [flat, targets], attrs, [
    { shape: [rows], dtype },
    { shape: [1], dtype },
  ]);
  const perRow = record(rowLoss!, 'crossEntropy', [flat], (dRow) =>
    runKernel('crossEntropyBackward', [flat, targets, dRow], attrs, [{ shape: flat.shape, dtype }]),
  );
  if (reduction === 'none') return reshape(perRow, targets.shape);
  const total = sum(perRow);
  return reduction === 'sum' ? total : div(total, reshape(count!, []));
}

/** Rows of weight [V, D] at int32 ids [...]: [..., D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  const dtype = floatDType('embedding', weight);
  if (ids.dtype !== 'int32') throw new Error(`embedding ids must be int32, got ${ids.describe()}`);
  if (weight.rank !== 2)
    throw new Error(`embedding weight must be [vocab, dim], got ${formatShape(weight.shape)}`);
  const [y] = runKernel('gather', [weight, ids], {}, [{ shape: [...ids.shape, weight.shape[1]!], dtype }]);
  return record(y!, 'embedding', [weight], (dy) =>
    runKernel('scatterAdd', [ids, dy], { rows: weight.shape[0]! }, [{ shape: weight.shape, dtype }]),
  );
}

export interface RmsNormOptions {
  eps: number;
  /** Gemma's (1 + w) parameterisation. */
  plusOne?: boolean;
}

/** RMSNorm over the last axis: x · rsqrt(mean(x²) + eps) · w (w omitted: no scale). */
export function rmsNorm(x: Tensor, weight: Tensor | null, { eps, plusOne = false }: RmsNormOptions): Tensor {
  const dtype = floatDType('rmsNorm', x, ...(weight ? [weight] : []));
  checkLastAxis('rmsNorm weight', weight, x);
  const attrs = { eps, weightOffset: plusOne ? 1 : 0, hasWeight: weight !== null };
  const inputs = weight ? [x, weight] : [x];
  const rows = x.size / x.shape[x.rank - 1]!;
  const [y, rstd] = runKernel('rmsNorm', inputs, attrs, [
    { shape: x.shape, dtype },
    { shape: [rows], dtype },
  ]);
  return record(y!, 'rmsNorm', inputs, (dy) => {
    const specs = [{ shape: x.shape, dtype }, ...(weight ? [{ shape: weight.shape, dtype }] : [])];
    return runKernel('rmsNormBackward', [...inputs, rstd!, dy], attrs, specs);
  });
}

/** LayerNorm over the last axis with biased variance; weight and bias optional. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const params = [weight, bias].filter((t): t is Tensor => t !== null);
  const dtype = floatDType('layerNorm', x, ...params);
  checkLastAxis('layerNorm weight', weight, x);
  checkLastAxis('layerNorm bias', bias, x);
  const attrs = { eps, hasWeight: weight !== null, hasBias: bias !== null };
  const inputs = [x, ...params];
  const rows = x.size / x.shape[x.rank - 1]!;
  const [y, means, rstds] = runKernel('layerNorm', inputs, attrs, [
    { shape: x.shape, dtype },
    { shape: [rows], dtype },
    { shape: [rows], dtype },
  ]);
  return record(y!, 'layerNorm', inputs, (dy) => {
    const specs = [{ shape: x.shape, dtype }, ...params.map((p) => ({ shape: p.shape, dtype }))];
    const weightInputs = weight ? [x, weight] : [x];
    return runKernel('layerNormBackward', [...weightInputs, means!, rstds!, dy], attrs, specs);
  });
}

export interface RopeOptions {
  /** Leading dims of each head that rotate (partial rotary); default all. */
  rotaryDim?: number;
  /** Interleaved pairs (2i, 2i+1) instead of rotate-half (i, i + R/2). */
  interleaved?: boolean;
  /**
   * Return [..., H, T, D], heads before positions as attention takes them, instead of x's
   * [..., T, H, D]: the rotation and the transpose in one pass.
   */
  headsFirst?: boolean;
}

/**
 * Rotary position embedding of x [..., T, H, D] with cos/sin tables [T, R/2] (see model/rope.ts);
 * [..., H, T, D] out with `headsFirst`.
 */
export function rope(
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  { rotaryDim, interleaved = false, headsFirst = false }: RopeOptions = {},
): Tensor {
  const dtype = floatDType('rope', x, cos, sin);
  const headDim = x.shape[x.rank - 1]!;
  const r = rotaryDim ?? headDim;
  const seq = x.shape[x.rank - 3]!;
  if (r % 2 !== 0 || r > headDim)
    throw new Error(`rotary dim ${r} must be even and at most the head dim ${headDim}`);
  if (
    cos.rank !== 2 ||
    cos.shape[0] !== seq ||
    cos.shape[1] !== r / 2 ||
    !shapesEqual(sin.shape, cos.shape)
  ) {
    throw new Error(
      `rope tables ${formatShape(cos.shape)} and ${formatShape(sin.shape)} do not match ${seq} positions x ${r / 2} frequencies`,
    );
  }
  const attrs = { rotaryDim: r, interleaved, inverse: false, layout: headsFirst ? 1 : 0 } as const;
  const shape = [...x.shape];
  if (headsFirst) [shape[x.rank - 3], shape[x.rank - 2]] = [shape[x.rank - 2]!, seq];
  const [y] = runKernel('rope', [x, cos, sin], attrs, [{ shape, dtype }]);
  // The gradient rotates back, from [..., H, T, D] to x's layout when the output was heads-first.
  const back = { ...attrs, inverse: true, layout: headsFirst ? 2 : 0 } as const;
  return record(y!, 'rope', [x], (dy) =>
    runKernel('rope', [dy, cos, sin], back, [{ shape: x.shape, dtype }]),
  );
}

/** A norm's weight or bias must be a vector as long as the normalised (last) axis of x. */
function checkLastAxis(what: string, param: Tensor | null, x: Tensor): void {
  if (param && (param.rank !== 1 || param.shape[0] !== x.shape[x.rank - 1])) {
    throw new Error(
      `${what} ${formatShape(param.shape)} does not match the last axis of ${formatShape(x.shape)}`,
    );
  }
}

export interface RouteTopKOptions {
  k: number;
  /** Added to the scores for selection only (DeepSeek-V3's e_score_correction_bias) [E]. */
  correction?: Tensor | null;
  /** Group-limited routing (DeepSeek): only the topkGroup best of numGroups expert groups are eligible. */
  groups?: { numGroups: number; topkGroup: number; groupScore: 'max' | 'top2_sum' } | null;
}

/**
 * Mixture-of-experts routing mask of scores [..., E]: 1 at each row's top-k experts, else 0 (ties to
 * the lower index). Computed on the device, so routing never reads back; not differentiable (the
 * weights that multiply the mask carry the gradient).
 */
export function routeTopK(scores: Tensor, { k, correction = null, groups = null }: RouteTopKOptions): Tensor {
  const dtype = floatDType('routeTopK', scores, ...(correction ? [correction] : []));
  const experts = scores.shape[scores.rank - 1]!;
  if (!Number.isInteger(k) || k < 1 || k > experts)
    throw new Error(`routeTopK: k must be in [1, ${experts}], got ${k}`);
  if (groups && (experts % groups.numGroups !== 0 || groups.topkGroup > groups.numGroups)) {
    throw new Error(
      `routeTopK: ${experts} experts do not split into ${groups.numGroups} groups keeping ${groups.topkGroup}`,
    );
  }
  const attrs = {
    k,
    hasCorrection: correction !== null,
    numGroups: groups?.numGroups ?? 1,
    topkGroup: groups?.topkGroup ?? 1,
    groupScore: groups?.groupScore ?? 'max',
  };
  const inputs = correction ? [scores, correction] : [scores];
  return runKernel('routeTopK', inputs, attrs, [{ shape: scores.shape, dtype }])[0]!;
}

/**
 * Inverted dropout: each element zeroed with probability p, the rest scaled by 1/(1−p). The mask is a
 * counter-based hash of `seed` (identical on every backend, reproducible when a run resumes); p = 0
 * returns x unchanged.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const dtype = floatDType('dropout', x);
  const [mask] = runKernel('dropoutMask', [x], { p, seed: seed >>> 0 }, [{ shape: x.shape, dtype }]);
  return mul(x, mask!);
}
