/**
 * Finite-difference gradient checks in float64 on the cpu backend. The function's output (any shape) is
 * reduced to a scalar with a fixed random projection, L = Σ out ⊙ P, so every output element reaches the
 * gradient; analytic dL/dx from `backward` is compared with central differences (L(x+ε) − L(x−ε)) / 2ε.
 */
import { backward, mul, noGrad, sum, tensor } from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { scope, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from './assert-close.js';

export { assertClose, type CloseOptions, type Tolerance } from './assert-close.js';

export interface GradcheckOptions {
  /** Central-difference step (default 1e-6). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the projection P. */
  seed?: number;
  /** Indices of the inputs to differentiate (default: every float input). */
  wrt?: readonly number[];
  /** Names the function in failure messages. */
  name?: string;
}

/** A fresh float64 cpu copy of host values (so the inputs passed in are never modified). */
function copyOf(values: Float64Array, like: Tensor): Tensor {
  return tensor(Float64Array.from(values), like.shape, { dtype: 'float64', backend: like.backend });
}

/** Σ out ⊙ P evaluated without autograd, on the host (the inputs are made and freed inside). */
function projected(
  fn: (...inputs: Tensor[]) => Tensor,
  makeInputs: () => Tensor[],
  projection: Float64Array,
): number {
  return noGrad(() =>
    scope(() => {
      const out = fn(...makeInputs()).dataSync();
      let total = 0;
      for (let i = 0; i < out.length; i++) total += out[i]! * projection[i]!;
      return total;
    }),
  );
}

/**
 * Asserts that the gradients of fn (reduced by a random projection) match central finite differences.
 * Inputs must live on the cpu backend; float inputs must be float64 (int32 inputs such as ids pass through).
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): void {
  const { eps = 1e-6, atol = 1e-6, rtol = 1e-6, seed = 1234, name = fn.name || 'fn' } = options;
  const wrt = options.wrt ?? inputs.flatMap((t, i) => (t.dtype === 'int32' ? [] : [i]));
  for (const t of inputs) {
    if (t.backend.name !== 'cpu') throw new Error(`gradcheck runs on the cpu backend, got ${t.backend.name}`);
    if (t.dtype === 'float32') throw new Error(`gradcheck needs float64 inputs, got ${t.describe()}`);
  }
  if (wrt.length === 0) throw new Error(`gradcheck of ${name}: no input to differentiate`);
  const hostInputs = inputs.map((t) => t.dataSync());

  scope(() => {
    // Analytic gradients through the tape.
    const leaves = inputs.map((t, i) => {
      if (!wrt.includes(i)) return t;
      const leaf = copyOf(hostInputs[i] as Float64Array, t);
      leaf.requiresGrad = true;
      return leaf;
    });
    const out = fn(...leaves);
    if (out.dtype !== 'float64') throw new Error(`gradcheck of ${name}: output is ${out.dtype}, not float64`);
    const rng = new Rng(seed);
    const projection = new Float64Array(out.size);
    for (let i = 0; i < projection.length; i++) projection[i] = rng.normal();
    const loss = sum(mul(out, tensor(projection, out.shape, { backend: out.backend })));
    backward(loss);

    for (const i of wrt) {
      const leaf = leaves[i]!;
      const analytic = leaf.grad ? leaf.grad.dataSync() : new Float64Array(leaf.size);
      if (leaf.grad && (leaf.grad.size !== leaf.size || leaf.grad.shape.join() !== leaf.shape.join())) {
        throw new Error(
          `gradcheck of ${name}: gradient of input ${i} has shape [${leaf.grad.shape}], input [${leaf.shape}]`,
        );
      }
      leaf.grad?.dispose();
      leaf.grad = null;

      // Numeric gradients by central differences, one element at a time.
      const host = Float64Array.from(hostInputs[i] as Float64Array);
      const numeric = new Float64Array(host.length);
      for (let j = 0; j < host.length; j++) {
        const original = host[j]!;
        const evaluate = (value: number) => {
          host[j] = value;
          return projected(fn, () => inputs.map((t, k) => (k === i ? copyOf(host, t) : t)), projection);
        };
        numeric[j] = (evaluate(original + eps) - evaluate(original - eps)) / (2 * eps);
        host[j] = original;
      }
      assertClose(analytic, numeric, {
        atol,
        rtol,
        shape: leaf.shape,
        message: `gradient of ${name} w.r.t. input ${i}`,
      });
    }
  });
}
