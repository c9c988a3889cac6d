/**
 * Reverse-mode autograd. Differentiable ops call `record` to attach a GradNode (inputs + backward rule)
 * to their output; `backward(loss)` walks the graph in reverse topological order and accumulates
 * gradients into `.grad` of the leaf tensors that require them (parameters).
 */
import type { GradNode, Tensor } from '../tensor/tensor.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording gradients (inference, optimizer updates, backward rules themselves). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Attaches a backward rule to `out` when grad mode is on and any input requires a gradient. */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: GradNode['backward'],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { op, inputs, backward };
  }
  return out;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS (graphs of deep models overflow a recursive one).
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [node, next] = top;
    const inputs = node.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const input = inputs[next]!;
      if (input.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

/**
 * Backpropagates from `root` (a scalar loss unless `seed` is given) and adds the gradients to `.grad`
 * of every leaf that requires one. Leaf gradients are kept (exempt from scope cleanup).
 */
export function backward(
  root: Tensor,
  seed: Tensor | null,
  add: (a: Tensor, b: Tensor) => Tensor,
  ones: (like: Tensor) => Tensor,
  copy: (t: Tensor) => Tensor,
): void {
  if (!root.requiresGrad) throw new Error('backward() called on a tensor that does not require gradients');
  if (!seed && root.size !== 1)
    throw new Error(`backward() needs a scalar loss or an explicit gradient; got ${root.describe()}`);
  if (seed && seed.shape.join() !== root.shape.join()) {
    throw new Error(`backward() seed ${seed.describe()} does not match the shape of ${root.describe()}`);
  }
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(root, seed ?? ones(root));
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i]!;
      const dy = grads.get(node);
      if (!dy) continue;
      if (!node.gradFn) {
        // A leaf owns its gradient storage: rules hand one tensor to several inputs (add gives dy, dy)
        // or views of it (reshape), and callers dispose .grad or update it in place. A second backward
        // accumulates in place, so .grad keeps its identity and the old sum is not leaked.
        if (node.grad) {
          const total = add(node.grad, dy);
          node.grad.backend.copyInto(node.grad.info(), total.info());
          total.dispose();
        } else {
          node.grad = copy(dy).keep();
        }
        continue;
      }
      const inputGrads = node.gradFn.backward(dy);
      node.gradFn.inputs.forEach((input, k) => {
        const g = inputGrads[k];
        if (!g || !input.requiresGrad) return;
        const existing = grads.get(input);
        grads.set(input, existing ? add(existing, g) : g);
      });
    }
  });
}
