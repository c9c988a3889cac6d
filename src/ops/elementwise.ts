/** Elementwise ops: the unary table's activations, broadcasting binary arithmetic, and affine maps. */
import { record } from '../autograd/tape.js';
import { broadcastShapes, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { scalar } from './creation.js';
import type { BinaryOpName, UnaryOpName } from './elementwise-table.js';
import { floatDType, runKernel } from './kernel.js';
import { sumTo } from './reduce.js';

export function unary(op: UnaryOpName, x: Tensor): Tensor {
  const dtype = floatDType(op, x);
  const [y] = runKernel('unary', [x], { op }, [{ shape: x.shape, dtype }]);
  return record(y!, op, [x], (dy) =>
    runKernel('unaryGrad', [x, y!, dy], { op }, [{ shape: x.shape, dtype }]),
  );
}

/**
 * act(gate) ⊙ up in one pass (a gated FFN's hidden: SwiGLU, GeGLU), for gate and up of one shape; the
 * gradient computes act(gate) again rather than keeping it.
 */
export function gatedUnary(op: UnaryOpName, gate: Tensor, up: Tensor): Tensor {
  if (!shapesEqual(gate.shape, up.shape)) return mul(unary(op, gate), up);
  const dtype = floatDType(op, gate, up);
  const [y] = runKernel('gated', [gate, up], { op }, [{ shape: gate.shape, dtype }]);
  return record(y!, `gated ${op}`, [gate, up], (dy) => {
    const act = unary(op, gate);
    const [dGate] = runKernel('unaryGrad', [gate, act, mul(dy, up)], { op }, [{ shape: gate.shape, dtype }]);
    return [dGate!, mul(dy, act)];
  });
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const square = (x: Tensor) => unary('square', x);
export const abs = (x: Tensor) => unary('abs', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
export const relu2 = (x: Tensor) => unary('relu2', x);
export const silu = (x: Tensor) => unary('silu', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const geluTanh = (x: Tensor) => unary('geluTanh', x);

function binary(
  op: BinaryOpName,
  a: Tensor,
  b: Tensor,
  grads: (dy: Tensor) => [Tensor | null, Tensor | null],
): Tensor {
  const dtype = floatDType(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape);
  const [out] = runKernel('binary', [a, b], { op }, [{ shape, dtype }]);
  return record(out!, op, [a, b], (dy) => {
    const [da, db] = grads(dy);
    return [
      da && a.requiresGrad ? sumTo(da, a.shape) : null,
      db && b.requiresGrad ? sumTo(db, b.shape) : null,
    ];
  });
}

type Operand = Tensor | number;

function asTensor(value: Operand, like: Tensor): Tensor {
  return typeof value === 'number' ? scalar(value, { dtype: like.dtype, backend: like.backend }) : value;
}

export function add(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, 1, b);
  return binary('add', a, b, (dy) => [dy, dy]);
}

export function sub(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, 1, -b);
  return binary('sub', a, b, (dy) => [dy, b.requiresGrad ? neg(dy) : null]);
}

export function mul(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, b, 0);
  return binary('mul', a, b, (dy) => [
    a.requiresGrad ? mul(dy, b) : null,
    b.requiresGrad ? mul(dy, a) : null,
  ]);
}

export function div(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return affine(a, 1 / b, 0);
  return binary('div', a, b, (dy) => [
    a.requiresGrad ? div(dy, b) : null,
    b.requiresGrad ? neg(div(mul(dy, a), square(b))) : null,
  ]);
}

/** x · scale + shift with constant scale and shift. */
export function affine(x: Tensor, scale: number, shift: number): Tensor {
  const dtype = floatDType('affine', x);
  const [y] = runKernel('affine', [x], { scale, shift }, [{ shape: x.shape, dtype }]);
  return record(y!, 'affine', [x], (dy) => [affine(dy, scale, 0)]);
}

/** Logit soft-capping (Gemma 2): cap · tanh(x / cap). */
export function softcap(x: Tensor, cap: number): Tensor {
  return affine(tanh(affine(x, 1 / cap, 0)), cap, 0);
}

export { asTensor };
