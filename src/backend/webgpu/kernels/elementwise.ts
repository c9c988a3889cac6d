/**
 * Elementwise kernels generated from the table in src/ops/elementwise-table.ts: one WGSL module per row
 * (unary, its gradient, binary), vectorised to vec4 when the size allows, plus affine. Binary ops
 * broadcast: same shapes, one operand cycling (a suffix shape, e.g. a bias), or general strides.
 */
import { type BinaryOpName, binaryOps, type UnaryOpName, unaryOps } from '../../../ops/elementwise-table.js';
import { broadcastStrides, isBroadcastSuffix, shapesEqual, sizeOf } from '../../../tensor/shape.js';
import type { Kernel } from '../../backend.js';
import { Words } from '../params.js';
import { alloc, buf, entryArgs, grid, header, memoShader, runtime } from '../shader.js';
import { wgslMath } from './wgsl-math.js';

const wg = 256;

function typeAlias(vec: boolean): string {
  return `alias T = ${vec ? 'vec4<f32>' : 'f32'};`;
}

/** A module applying `body` (which assigns OUT[i]) to every index below word 0. */
function mapShader(vec: boolean, bindings: string[], body: string): string {
  return memoShader(`map ${vec} ${bindings.join()} ${body}`, () => buildMapShader(vec, bindings, body));
}

function buildMapShader(vec: boolean, bindings: string[], body: string): string {
  const decls = bindings
    .map((name, k) => {
      const last = k === bindings.length - 1;
      return `@group(0) @binding(${k + 1}) var<storage, ${last ? 'read_write' : 'read'}> ${name}: array<T>;`;
    })
    .join('\n');
  return `${typeAlias(vec)}
${header}
${wgslMath}
${decls}
@compute @workgroup_size(${wg})
fn main(${entryArgs}) {
  let i = linearGroup(wid, nwg) * ${wg}u + lid;
  if (i >= pu(0)) { return; }
  ${body}
}`;
}

function vectorWidth(n: number): number {
  return n % 4 === 0 ? 4 : 1;
}

export const unaryKernel: Kernel<{ op: UnaryOpName }> = ([x], { op }, [out]) => {
  const n = sizeOf(out!.shape);
  const width = vectorWidth(n);
  const code = mapShader(width === 4, ['X', 'Y'], `let x = X[i]; Y[i] = ${unaryOps[op].wgsl};`);
  const y = alloc(n);
  runtime().dispatch(code, [buf(x!), y.buffer], new Words().u(n / width), grid(Math.ceil(n / width / wg)));
  return [y];
};

/** act(gate) ⊙ up over two tensors of one shape (ops.gatedUnary): a gated FFN's hidden in one pass. */
export const gatedKernel: Kernel<{ op: UnaryOpName }> = ([gate, up], { op }, [out]) => {
  const n = sizeOf(out!.shape);
  const width = vectorWidth(n);
  const code = mapShader(width === 4, ['G', 'U', 'Y'], `let x = G[i]; Y[i] = (${unaryOps[op].wgsl}) * U[i];`);
  const y = alloc(n);
  runtime().dispatch(
    code,
    [buf(gate!), buf(up!), y.buffer],
    new Words().u(n / width),
    grid(Math.ceil(n / width / wg)),
  );
  return [y];
};

export const unaryGradKernel: Kernel<{ op: UnaryOpName }> = ([x, y, dy], { op }, [out]) => {
  const n = sizeOf(out!.shape);
  const width = vectorWidth(n);
  const code = mapShader(
    width === 4,
    ['X', 'Yv', 'DY', 'DX'],
    `let x = X[i]; let y = Yv[i]; let dy = DY[i]; DX[i] = ${unaryOps[op].wgslGrad};`,
  );
  const dx = alloc(n);
  runtime().dispatch(
    code,
    [buf(x!), buf(y!), buf(dy!), dx.buffer],
    new Words().u(n / width),
    grid(Math.ceil(n / width / wg)),
  );
  return [dx];
};

export const affineKernel: Kernel<{ scale: number; shift: number }> = ([x], { scale, shift }, [out]) => {
  const n = sizeOf(out!.shape);
  const width = vectorWidth(n);
  const code = mapShader(width === 4, ['X', 'Y'], 'Y[i] = X[i] * pf(1u) + pf(2u);');
  const y = alloc(n);
  const words = new Words()
    .u(n / width)
    .f(scale)
    .f(shift);
  runtime().dispatch(code, [buf(x!), y.buffer], words, grid(Math.ceil(n / width / wg)));
  return [y];
};

const maxRank = 8;

export const binaryKernel: Kernel<{ op: BinaryOpName }> = ([a, b], { op }, [out]) => {
  const outShape = out!.shape;
  const n = sizeOf(outShape);
  const expr = binaryOps[op].wgsl;
  const aSize = sizeOf(a!.shape);
  const bSize = sizeOf(b!.shape);
  const result = alloc(n);
  const buffers = [buf(a!), buf(b!), result.buffer];
  const aFull = shapesEqual(a!.shape, outShape);
  const bFull = shapesEqual(b!.shape, outShape);
  if (aFull && bFull) {
    const width = vectorWidth(n);
    const code = mapShader(width === 4, ['A', 'B', 'C'], `let a = A[i]; let b = B[i]; C[i] = ${expr};`);
    runtime().dispatch(code, buffers, new Words().u(n / width), grid(Math.ceil(n / width / wg)));
  } else if (
    (aFull && isBroadcastSuffix(b!.shape, outShape)) ||
    (bFull && isBroadcastSuffix(a!.shape, outShape))
  ) {
    // One operand repeats with period m (a bias over the last axes, a scalar).
    const m = aFull ? bSize : aSize;
    const width = m % 4 === 0 ? 4 : 1;
    const ia = aFull ? 'i' : 'i % pu(1u)';
    const ib = aFull ? 'i % pu(1u)' : 'i';
    const code = mapShader(
      width === 4,
      ['A', 'B', 'C'],
      `let a = A[${ia}]; let b = B[${ib}]; C[i] = ${expr};`,
    );
    runtime().dispatch(code, buffers, new Words().u(n / width).u(m / width), grid(Math.ceil(n / width / wg)));
  } else {
    if (outShape.length > maxRank) throw new Error(`webgpu binary ops broadcast up to rank ${maxRank}`);
    const rank = outShape.length;
    const sa = broadcastStrides(a!.shape, outShape);
    const sb = broadcastStrides(b!.shape, outShape);
    const words = new Words().u(n).u(rank).us(outShape, maxRank, 1).us(sa, maxRank).us(sb, maxRank);
    const body = `
  var rest = i; var ia = 0u; var ib = 0u;
  for (var d = i32(pu(1u)) - 1; d >= 0; d--) {
    let dim = pu(2u + u32(d));
    let idx = rest % dim;
    rest = rest / dim;
    ia += idx * pu(${2 + maxRank}u + u32(d));
    ib += idx * pu(${2 + 2 * maxRank}u + u32(d));
  }
  let a = A[ia]; let b = B[ib]; C[i] = ${expr};`;
    runtime().dispatch(mapShader(false, ['A', 'B', 'C'], body), buffers, words, grid(Math.ceil(n / wg)));
  }
  return [result];
};
