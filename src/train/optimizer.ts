/**
 * AdamW (Loshchilov & Hutter 2019) over a model's parameters, through the backend's 'adamw' kernel,
 * which updates param, m and v in place:
 *
 *   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
 *   p ← p − lr·( m/(1−β1^t) / (√(v/(1−β2^t)) + ε) + λ·p )
 *
 * Weight decay λ applies only to matrices (rank ≥ 2, not norm weights): decaying norm gains and
 * biases pulls them towards zero, which is not a prior anyone wants (GPT-2/nanoGPT practice).
 *
 * Gradients accumulate in `.grad` over micro-batches (autograd adds in place); `step` divides them by
 * the number of micro-batches, clips the global L2 norm, applies the update, and `zeroGrad` clears them.
 * The norm is one `sumSquares` call and the update one 'adamw' kernel call over every parameter (the
 * webgpu kernels take several tensors per dispatch: ~65 dispatches for GPT-2-124M's 196 tensors, where
 * a norm and an update per tensor took ~860).
 * The state (t, m, v) is plain data, saved in a checkpoint as optimizer.safetensors.
 */
import { runKernel, sumSquares, tensor, zeros } from '../ops/index.js';
import type { FloatArray } from '../tensor/dtype.js';
import { scope, type Tensor } from '../tensor/tensor.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay λ of the decayed group. Default 0.1. */
  weightDecay?: number;
}

export interface OptimizedParam {
  name: string;
  param: Tensor;
  /** Whether weight decay applies. */
  decay: boolean;
}

export interface StepOptions {
  lr: number;
  /** Clip the global gradient norm to this value (after the micro-batch average); 0 or absent: no clip. */
  clip?: number;
  /** Gradients hold the sum over this many micro-batches; they are divided by it. Default 1. */
  microBatches?: number;
}

export interface StepResult {
  /** Global L2 norm of the averaged gradient, before clipping. */
  gradNorm: number;
  /** The factor gradients were multiplied by in the end (1/microBatches times the clip factor). */
  gradScale: number;
}

export interface AdamWState {
  step: number;
  /** First and second moments by parameter name. */
  m: Map<string, FloatArray>;
  v: Map<string, FloatArray>;
}

/** The decayed/undecayed split for a model: decay matrices, not norms, biases or other vectors. */
export function decayGroups(
  specs: readonly { path: string; part: string }[],
  params: ReadonlyMap<string, Tensor>,
): OptimizedParam[] {
  return specs.map((spec) => {
    const param = params.get(spec.path)!;
    return { name: spec.path, param, decay: param.rank >= 2 && spec.part !== 'norm' };
  });
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Updates taken so far (the t of bias correction). */
  stepCount = 0;
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();

  constructor(
    readonly params: readonly OptimizedParam[],
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.95;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.1;
    for (const [what, value] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(value >= 0 && value < 1)) throw new Error(`AdamW ${what} must be in [0, 1), got ${value}`);
    }
    if (!(this.eps > 0)) throw new Error(`AdamW eps must be positive, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`AdamW weightDecay must be ≥ 0, got ${this.weightDecay}`);
    const names = new Set<string>();
    for (const { name, param } of params) {
      if (names.has(name)) throw new Error(`AdamW: parameter '${name}' is listed twice`);
      names.add(name);
      const like = { dtype: param.dtype, backend: param.backend };
      this.m.set(name, zeros(param.shape, like).keep());
      this.v.set(name, zeros(param.shape, like).keep());
    }
  }

  /** Clears every parameter's gradient (the next backward starts a fresh sum). */
  zeroGrad(): void {
    for (const { param } of this.params) {
      param.grad?.dispose();
      param.grad = null;
    }
  }

  /** Global L2 norm of the gradients as they are now (times `scale`). */
  async gradNorm(scale = 1): Promise<number> {
    const grads = this.params.flatMap(({ param }) => (param.grad ? [param.grad] : []));
    if (grads.length === 0) return 0;
    const squares = sumSquares(grads);
    const value = await squares.item();
    squares.dispose();
    return Math.abs(scale) * Math.sqrt(value);
  }

  /** One AdamW update from the accumulated gradients (parameters without a gradient are left alone). */
  async step({ lr, clip = 0, microBatches = 1 }: StepOptions): Promise<StepResult> {
    if (!(lr >= 0)) throw new Error(`AdamW step: lr must be ≥ 0, got ${lr}`);
    const average = 1 / microBatches;
    const gradNorm = await this.gradNorm(average);
    if (!Number.isFinite(gradNorm)) {
      throw new Error(
        `the gradient norm is ${gradNorm} at step ${this.stepCount + 1}: training diverged (lower --lr, or set --clip)`,
      );
    }
    const gradScale = average * (clip > 0 && gradNorm > clip ? clip / gradNorm : 1);
    this.stepCount++;
    // One kernel call for every parameter (the backend updates several tensors per dispatch).
    const updated = this.params.filter(({ param }) => param.grad);
    if (updated.length === 0) return { gradNorm, gradScale };
    const inputs = updated.flatMap(({ name, param }) => [
      param,
      param.grad!,
      this.m.get(name)!,
      this.v.get(name)!,
    ]);
    const attrs = {
      lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: updated.map(({ decay }) => (decay ? this.weightDecay : 0)),
      step: this.stepCount,
      gradScale,
    };
    runKernel('adamw', inputs, attrs, []);
    return { gradNorm, gradScale };
  }

  /** A copy of the state, read back from the backend. */
  async state(): Promise<AdamWState> {
    const m = new Map<string, FloatArray>();
    const v = new Map<string, FloatArray>();
    for (const { name } of this.params) {
      m.set(name, (await this.m.get(name)!.data()) as FloatArray);
      v.set(name, (await this.v.get(name)!.data()) as FloatArray);
    }
    return { step: this.stepCount, m, v };
  }

  /** Restores a state saved by `state()`; every parameter's moments must be present with its size. */
  loadState(state: AdamWState): void {
    for (const { name, param } of this.params) {
      for (const [which, moments, saved] of [
        ['m', this.m, state.m],
        ['v', this.v, state.v],
      ] as const) {
        const values = saved.get(name);
        if (!values) throw new Error(`optimizer state has no '${which}' for parameter '${name}'`);
        if (values.length !== param.size) {
          throw new Error(
            `optimizer state '${which}' of '${name}' has ${values.length} values, the parameter has ${param.size}`,
          );
        }
        const target = moments.get(name)!;
        scope(() => {
          const source = tensor(values, param.shape, { dtype: param.dtype, backend: param.backend });
          target.backend.copyInto(target.info(), source.info());
        });
      }
    }
    this.stepCount = state.step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
