/** The public op set. Importing it registers the cpu backend. */
import '../backend/cpu/index.js';
import { backward as runBackward } from '../autograd/tape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ones } from './creation.js';
import { add, affine } from './elementwise.js';

export * from './attention.js';
export * from './creation.js';
export * from './elementwise.js';
export { runKernel } from './kernel.js';
export * from './layout.js';
export * from './linalg.js';
export * from './nn.js';
export * from './reduce.js';

/** Backpropagates from a scalar loss (or from `root` with an explicit gradient `seed`). */
export function backward(root: Tensor, seed: Tensor | null = null): void {
  runBackward(
    root,
    seed,
    add,
    (like) => ones(like.shape, { dtype: like.dtype, backend: like.backend }),
    (t) => affine(t, 1, 0),
  );
}

export { isGradEnabled, noGrad } from '../autograd/tape.js';
