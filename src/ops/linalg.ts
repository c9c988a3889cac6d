/** Matrix multiplication (batched, broadcasting) and the linear layer. */
import { record } from '../autograd/tape.js';
import { broadcastShapes, formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from './elementwise.js';
import { floatDType, runKernel } from './kernel.js';
import { reshape } from './layout.js';
import { sumTo } from './reduce.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** op(a) @ op(b) over the last two axes; leading axes broadcast. a [..., M, K], b [..., K, N]. */
export function matmul(a: Tensor, b: Tensor, { transA = false, transB = false }: MatmulOptions = {}): Tensor {
  const dtype = floatDType('matmul', a, b);
  if (a.rank < 2 || b.rank < 2)
    throw new Error(`matmul needs rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const m = transA ? a.shape[a.rank - 1]! : a.shape[a.rank - 2]!;
  const ka = transA ? a.shape[a.rank - 2]! : a.shape[a.rank - 1]!;
  const kb = transB ? b.shape[b.rank - 1]! : b.shape[b.rank - 2]!;
  const n = transB ? b.shape[b.rank - 2]! : b.shape[b.rank - 1]!;
  if (ka !== kb) {
    throw new Error(
      `matmul inner dimensions differ: ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${formatShape(b.shape)}${transB ? 'ᵀ' : ''}`,
    );
  }
  if (!transA && b.rank === 2 && a.rank > 2) {
    // Rows of a stack times one matrix (a linear layer): fold the batch axes into M. The weight's
    // gradient is then one product with K = batch·M, not a batched product summed over the batch.
    const lead = a.shape.slice(0, -1); // [..., M]
    const rows = lead.reduce((x, y) => x * y, 1);
    const c = matmul(reshape(a, [rows, ka]), b, { transB }); // [batch·M, N]
    return reshape(c, [...lead, n]);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const [c] = runKernel('matmul', [a, b], { transA, transB }, [{ shape: [...batch, m, n], dtype }]);
  return record(c!, 'matmul', [a, b], (dc) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      // C = op(A)·op(B): dA = dC·op(B)ᵀ, transposed back when A was transposed.
      da = transA ? matmul(b, dc, { transA: transB, transB: true }) : matmul(dc, b, { transB: !transB });
      da = sumTo(da, a.shape);
    }
    if (b.requiresGrad) {
      db = transB ? matmul(dc, a, { transA: true, transB: transA }) : matmul(a, dc, { transA: !transA });
      db = sumTo(db, b.shape);
    }
    return [da, db];
  });
}

/** y = x Wᵀ + b with W [out, in] (the nn.Linear / Hugging Face layout). x [..., in] -> [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const y = matmul(x, weight, { transB: true });
  return bias ? add(y, bias) : y;
}
