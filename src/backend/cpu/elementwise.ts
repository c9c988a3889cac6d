/** CPU elementwise kernels, compiled once per row of the elementwise table. */
import {
  type BinaryOpName,
  binaryOps,
  jsHelpers,
  type UnaryOpName,
  unaryOps,
} from '../../ops/elementwise-table.js';
import { allocArray, type FloatArray } from '../../tensor/dtype.js';
import { broadcastStrides, isBroadcastSuffix, shapesEqual, sizeOf } from '../../tensor/shape.js';
import type { Kernel } from '../backend.js';

type UnaryLoop = (x: FloatArray, out: FloatArray, n: number, M: typeof jsHelpers) => void;
type UnaryGradLoop = (
  x: FloatArray,
  y: FloatArray,
  dy: FloatArray,
  out: FloatArray,
  n: number,
  M: typeof jsHelpers,
) => void;
type BinaryLoop = (a: FloatArray, b: FloatArray, out: FloatArray, n: number, bSize: number) => void;

type GatedLoop = (g: FloatArray, u: FloatArray, out: FloatArray, n: number, M: typeof jsHelpers) => void;

const unaryLoops = new Map<string, UnaryLoop>();
const gatedLoops = new Map<string, GatedLoop>();
const unaryGradLoops = new Map<string, UnaryGradLoop>();
const binaryLoops = new Map<string, { same: BinaryLoop; bCycle: BinaryLoop; aCycle: BinaryLoop }>();

// One specialised loop per op (new Function gives each its own optimised code).
for (const spec of Object.values(unaryOps)) {
  unaryLoops.set(
    spec.name,
    new Function(
      'xs',
      'out',
      'n',
      'M',
      `for (let i = 0; i < n; i++) { const x = xs[i]; out[i] = ${spec.js}; }`,
    ) as UnaryLoop,
  );
  gatedLoops.set(
    spec.name,
    new Function(
      'gs',
      'us',
      'out',
      'n',
      'M',
      `for (let i = 0; i < n; i++) { const x = gs[i]; out[i] = (${spec.js}) * us[i]; }`,
    ) as GatedLoop,
  );
  unaryGradLoops.set(
    spec.name,
    new Function(
      'xs',
      'ys',
      'dys',
      'out',
      'n',
      'M',
      `for (let i = 0; i < n; i++) { const x = xs[i], y = ys[i], dy = dys[i]; out[i] = ${spec.jsGrad}; }`,
    ) as UnaryGradLoop,
  );
}
for (const spec of Object.values(binaryOps)) {
  const f = (ia: string, ib: string) =>
    new Function(
      'as',
      'bs',
      'out',
      'n',
      'm',
      `for (let i = 0; i < n; i++) { const a = as[${ia}], b = bs[${ib}]; out[i] = ${spec.js}; }`,
    ) as BinaryLoop;
  binaryLoops.set(spec.name, { same: f('i', 'i'), bCycle: f('i', 'i % m'), aCycle: f('i % m', 'i') });
}

export const unaryKernel: Kernel<{ op: UnaryOpName }> = ([x], { op }, [out]) => {
  const result = allocArray(out!.dtype, sizeOf(out!.shape)) as FloatArray;
  unaryLoops.get(op)!(x!.storage as FloatArray, result, result.length, jsHelpers);
  return [result];
};

export const unaryGradKernel: Kernel<{ op: UnaryOpName }> = ([x, y, dy], { op }, [out]) => {
  const result = allocArray(out!.dtype, sizeOf(out!.shape)) as FloatArray;
  unaryGradLoops.get(op)!(
    x!.storage as FloatArray,
    y!.storage as FloatArray,
    dy!.storage as FloatArray,
    result,
    result.length,
    jsHelpers,
  );
  return [result];
};

export const binaryKernel: Kernel<{ op: BinaryOpName }> = ([a, b], { op }, [out]) => {
  const outShape = out!.shape;
  const n = sizeOf(outShape);
  const result = allocArray(out!.dtype, n) as FloatArray;
  const av = a!.storage as FloatArray;
  const bv = b!.storage as FloatArray;
  const loops = binaryLoops.get(op)!;
  if (shapesEqual(a!.shape, outShape) && shapesEqual(b!.shape, outShape)) {
    loops.same(av, bv, result, n, n);
  } else if (shapesEqual(a!.shape, outShape) && isBroadcastSuffix(b!.shape, outShape)) {
    loops.bCycle(av, bv, result, n, bv.length);
  } else if (shapesEqual(b!.shape, outShape) && isBroadcastSuffix(a!.shape, outShape)) {
    loops.aCycle(av, bv, result, n, av.length);
  } else {
    // General broadcasting: walk the output with a multi-index.
    const sa = broadcastStrides(a!.shape, outShape);
    const sb = broadcastStrides(b!.shape, outShape);
    const rank = outShape.length;
    const index = new Array<number>(rank).fill(0);
    const scratchA = allocArray(out!.dtype, n) as FloatArray;
    const scratchB = allocArray(out!.dtype, n) as FloatArray;
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < n; i++) {
      scratchA[i] = av[ia]!;
      scratchB[i] = bv[ib]!;
      for (let d = rank - 1; d >= 0; d--) {
        index[d]!++;
        ia += sa[d]!;
        ib += sb[d]!;
        if (index[d]! < outShape[d]!) break;
        ia -= sa[d]! * outShape[d]!;
        ib -= sb[d]! * outShape[d]!;
        index[d] = 0;
      }
    }
    loops.same(scratchA, scratchB, result, n, n);
  }
  return [result];
};

export const affineKernel: Kernel<{ scale: number; shift: number }> = ([x], { scale, shift }, [out]) => {
  const xv = x!.storage as FloatArray;
  const result = allocArray(out!.dtype, xv.length) as FloatArray;
  for (let i = 0; i < xv.length; i++) result[i] = xv[i]! * scale + shift;
  return [result];
};

/** act(gate) ⊙ up over two tensors of one shape (ops.gatedUnary). */
export const gatedKernel: Kernel<{ op: UnaryOpName }> = ([gate, up], { op }, [out]) => {
  const g = gate!.storage as FloatArray;
  const y = allocArray(out!.dtype, g.length) as FloatArray;
  gatedLoops.get(op)!(g, up!.storage as FloatArray, y, g.length, jsHelpers);
  return [y];
};
