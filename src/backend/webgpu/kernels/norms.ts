/**
 * RMSNorm and LayerNorm over the last axis, forward and backward. Row kernels (one workgroup per row)
 * compute y or dx; weight and bias gradients are column sums over rows (reduction.ts's columnReduce,
 * which splits long columns over many workgroups). The forward returns rstd (and mean) for the backward, as the cpu kernels do.
 */
import { sizeOf } from '../../../tensor/shape.js';
import type { Kernel, TensorInfo } from '../../backend.js';
import type { LayerNormAttrs, RmsNormAttrs } from '../../cpu/nn.js';
import { Words } from '../params.js';
import type { GpuStorage } from '../runtime.js';
import { alloc, buf, grid, header, memoShader, runtime } from '../shader.js';
import { columnReduce, columnShader, rowEntry, rowThreads, workgroupReduce } from './reduction.js';

function bindings(names: readonly string[], writable: readonly string[]): string {
  return names
    .map((name, k) => {
      const access = writable.includes(name) ? 'read_write' : 'read';
      return `@group(0) @binding(${k + 1}) var<storage, ${access}> ${name}: array<f32>;`;
    })
    .join('\n');
}

/** A row kernel over inputs then outputs; `body` runs after `n`, `base` and `row` are known. */
function rowShader(inputs: string[], outputs: string[], body: string): string {
  return `${header}${workgroupReduce}
${bindings([...inputs, ...outputs], outputs)}
${rowEntry}
  let n = pu(1);
  let base = row * n;
${body}
}`;
}

const loop = (body: string) => `  for (var j = lid; j < n; j += ${rowThreads}u) { ${body} }`;

function rmsForwardShader(hasWeight: boolean): string {
  const scale = hasWeight ? '(W[j] + pf(3))' : '1.0';
  return rowShader(
    hasWeight ? ['X', 'W'] : ['X'],
    ['Y', 'Rstd'],
    `  var ss = 0.0;
${loop('let x = X[base + j]; ss += x * x;')}
  let rs = 1.0 / sqrt(reduceSum(ss, lid) / f32(n) + pf(2));
  if (lid == 0u) { Rstd[row] = rs; }
${loop(`Y[base + j] = X[base + j] * rs * ${scale};`)}`,
  );
}

function rowsAndDim(x: TensorInfo): [number, number] {
  const dim = x.shape[x.shape.length - 1]!;
  return [dim === 0 ? 0 : sizeOf(x.shape) / dim, dim];
}

export const rmsNormKernel: Kernel<RmsNormAttrs> = (inputs, { eps, weightOffset, hasWeight }) => {
  const [rows, dim] = rowsAndDim(inputs[0]!);
  const y = alloc(rows * dim);
  const rstd = alloc(rows);
  const words = new Words().u(rows).u(dim).f(eps).f(weightOffset);
  runtime().dispatch(
    memoShader(`rmsForwardShader ${hasWeight}`, () => rmsForwardShader(hasWeight)),
    [...inputs.map(buf), y.buffer, rstd.buffer],
    words,
    grid(rows),
  );
  return [y, rstd];
};

function rmsBackwardShader(hasWeight: boolean): string {
  const g = hasWeight ? 'DY[base + j] * (W[j] + pf(3))' : 'DY[base + j]';
  return rowShader(
    hasWeight ? ['X', 'W', 'Rstd', 'DY'] : ['X', 'Rstd', 'DY'],
    ['DX'],
    `  let rs = Rstd[row];
  var dot = 0.0;
${loop(`dot += ${g} * X[base + j] * rs;`)}
  let meanDot = reduceSum(dot, lid) / f32(n);
${loop(`DX[base + j] = rs * (${g} - X[base + j] * rs * meanDot);`)}`,
  );
}

const rmsWeightGradShader = columnShader(['X', 'Rstd', 'DY'], 'DY[r * cols + j] * X[r * cols + j] * Rstd[r]');

export const rmsNormBackwardKernel: Kernel<RmsNormAttrs> = (inputs, { weightOffset, hasWeight }) => {
  const [rows, dim] = rowsAndDim(inputs[0]!);
  const dx = alloc(rows * dim);
  const words = new Words().u(rows).u(dim).f(0).f(weightOffset);
  runtime().dispatch(
    memoShader(`rmsBackwardShader ${hasWeight}`, () => rmsBackwardShader(hasWeight)),
    [...inputs.map(buf), dx.buffer],
    words,
    grid(rows),
  );
  if (!hasWeight) return [dx];
  const [x, , rstd, dy] = inputs.map(buf);
  return [dx, columnReduce(rmsWeightGradShader, [x!, rstd!, dy!], rows, dim)];
};

function layerForwardShader(hasWeight: boolean, hasBias: boolean): string {
  const inputs = ['X', ...(hasWeight ? ['W'] : []), ...(hasBias ? ['B'] : [])];
  const affine = `${hasWeight ? ' * W[j]' : ''}${hasBias ? ' + B[j]' : ''}`;
  return rowShader(
    inputs,
    ['Y', 'Mean', 'Rstd'],
    `  var s = 0.0;
${loop('s += X[base + j];')}
  let mean = reduceSum(s, lid) / f32(n);
  var sq = 0.0;
${loop('let c = X[base + j] - mean; sq += c * c;')}
  let rs = 1.0 / sqrt(reduceSum(sq, lid) / f32(n) + pf(2));
  if (lid == 0u) { Mean[row] = mean; Rstd[row] = rs; }
${loop(`Y[base + j] = (X[base + j] - mean) * rs${affine};`)}`,
  );
}

export const layerNormKernel: Kernel<LayerNormAttrs> = (inputs, { eps, hasWeight, hasBias }) => {
  const [rows, dim] = rowsAndDim(inputs[0]!);
  const y = alloc(rows * dim);
  const mean = alloc(rows);
  const rstd = alloc(rows);
  const words = new Words().u(rows).u(dim).f(eps);
  const code = memoShader(`layerForwardShader ${hasWeight} ${hasBias}`, () =>
    layerForwardShader(hasWeight, hasBias),
  );
  runtime().dispatch(code, [...inputs.map(buf), y.buffer, mean.buffer, rstd.buffer], words, grid(rows));
  return [y, mean, rstd];
};

function layerBackwardShader(hasWeight: boolean): string {
  const g = hasWeight ? 'DY[base + j] * W[j]' : 'DY[base + j]';
  const inputs = hasWeight ? ['X', 'W', 'Mean', 'Rstd', 'DY'] : ['X', 'Mean', 'Rstd', 'DY'];
  return rowShader(
    inputs,
    ['DX'],
    `  let mean = Mean[row];
  let rs = Rstd[row];
  var gs = 0.0;
  var gx = 0.0;
${loop(`let g = ${g}; gs += g; gx += g * (X[base + j] - mean) * rs;`)}
  let gMean = reduceSum(gs, lid) / f32(n);
  let gxMean = reduceSum(gx, lid) / f32(n);
${loop(`DX[base + j] = rs * (${g} - gMean - (X[base + j] - mean) * rs * gxMean);`)}`,
  );
}

const layerWeightGradShader = columnShader(
  ['X', 'Mean', 'Rstd', 'DY'],
  'DY[r * cols + j] * (X[r * cols + j] - Mean[r]) * Rstd[r]',
);
const layerBiasGradShader = columnShader(['DY'], 'DY[r * cols + j]');

export const layerNormBackwardKernel: Kernel<LayerNormAttrs> = (inputs, { hasWeight, hasBias }) => {
  const [rows, dim] = rowsAndDim(inputs[0]!);
  const buffers = inputs.map(buf);
  const dx = alloc(rows * dim);
  runtime().dispatch(
    memoShader(`layerBackwardShader ${hasWeight}`, () => layerBackwardShader(hasWeight)),
    [...buffers, dx.buffer],
    new Words().u(rows).u(dim),
    grid(rows),
  );
  const k = hasWeight ? 2 : 1;
  const [x, mean, rstd, dy] = [buffers[0]!, buffers[k]!, buffers[k + 1]!, buffers[k + 2]!];
  const outs: GpuStorage[] = [dx];
  if (hasWeight) outs.push(columnReduce(layerWeightGradShader, [x, mean, rstd, dy], rows, dim));
  if (hasBias) outs.push(columnReduce(layerBiasGradShader, [dy], rows, dim));
  return outs;
};
