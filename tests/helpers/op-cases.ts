/**
 * One table of op test cases for every backend (ggml's test-backend-ops, candle's test_device!): each case
 * draws seeded host inputs and calls one op. `checkForwardAgainstCpu` runs the table on a backend in float32
 * and compares outputs and the gradients of a random projection of each output with the cpu oracle;
 * `gradcheckCase` checks a case's gradients against finite differences in float64 on cpu.
 * Adding an op (or a kernel to the backend contract) means adding a case here.
 */
import { type Backend, findBackend } from '../../src/backend/backend.js';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { scopeAsync, type Tensor } from '../../src/tensor/tensor.js';
import { assertClose, type Tolerance } from './assert-close.js';
import { type GradcheckOptions, gradcheck } from './gradcheck.js';

export interface HostInput {
  readonly data: Float64Array | Int32Array;
  readonly shape: readonly number[];
  /** Differentiate with respect to this input (float inputs only). */
  readonly grad: boolean;
}

export interface OpCase {
  readonly name: string;
  /** Inputs drawn from a seeded generator, so every backend sees the same values. */
  inputs(rng: Rng): HostInput[];
  /** The op call, on tensors of any backend and float dtype. */
  run(inputs: Tensor[]): Tensor;
  /** Looser float32 comparison for this case (long reductions); the runner's tolerance is the floor. */
  tolerance?: Partial<Tolerance>;
}

// ---- input builders ----

/** Standard normal values kept at least 0.05 away from 0 (no test point sits on the kink of relu or abs). */
export function normal(rng: Rng, shape: readonly number[], { grad = true, scale = 1 } = {}): HostInput {
  const data = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    let x = rng.normal();
    while (Math.abs(x) < 0.05) x = rng.normal();
    data[i] = x * scale;
  }
  return { data, shape, grad };
}

/** Uniform values in [low, high) (domains of log, sqrt, division). */
export function positive(
  rng: Rng,
  shape: readonly number[],
  { grad = true, low = 0.5, high = 2 } = {},
): HostInput {
  const data = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * rng.uniform();
  return { data, shape, grad };
}

/** int32 ids in [0, high). */
export function ids(rng: Rng, shape: readonly number[], high: number): HostInput {
  const data = new Int32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.int(high);
  return { data, shape, grad: false };
}

/** Fixed float values (tables, constants); not differentiated. */
export function constant(values: ArrayLike<number>, shape: readonly number[]): HostInput {
  return { data: Float64Array.from(values), shape, grad: false };
}

/** RoPE cos/sin tables [positions, half] for positions start.. with base theta. */
export function ropeTables(
  start: number,
  positions: number,
  half: number,
  theta = 10000,
): [HostInput, HostInput] {
  const cos = new Float64Array(positions * half);
  const sin = new Float64Array(positions * half);
  for (let t = 0; t < positions; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + t) * theta ** (-i / half);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return [constant(cos, [positions, half]), constant(sin, [positions, half])];
}

// ---- the cases ----

const unaryPositive = new Set(['log', 'sqrt', 'rsqrt', 'reciprocal']);

const unaryCases: OpCase[] = (
  [
    'neg',
    'exp',
    'log',
    'sqrt',
    'rsqrt',
    'reciprocal',
    'square',
    'abs',
    'sin',
    'cos',
    'tanh',
    'sigmoid',
    'relu',
    'relu2',
    'silu',
    'gelu',
    'geluTanh',
  ] as const
).map((op) => ({
  name: `unary ${op}`,
  inputs: (rng) => [unaryPositive.has(op) ? positive(rng, [3, 4]) : normal(rng, [3, 4], { scale: 1.5 })],
  run: ([x]) => ops.unary(op, x!),
}));

/** Saturating activations far out on both tails (where float32 exp/tanh overflow if written naively). */
const extremeCases: OpCase[] = (['tanh', 'sigmoid', 'silu', 'gelu', 'geluTanh'] as const).map((op) => ({
  name: `unary ${op} at large |x|`,
  inputs: (rng) => [normal(rng, [2, 5], { scale: 60 })],
  run: ([x]) => ops.unary(op, x!),
}));

/** act(gate) ⊙ up in one pass (a gated FFN's hidden), every activation a config can name. */
const gatedCases: OpCase[] = (['silu', 'gelu', 'geluTanh', 'relu', 'relu2'] as const).map((op) => ({
  name: `unary gated ${op}`,
  inputs: (rng) => [normal(rng, [3, 8]), normal(rng, [3, 8])],
  run: ([gate, up]) => ops.gatedUnary(op, gate!, up!),
}));

const binaryShapes: [string, number[], number[]][] = [
  ['same shape', [2, 3], [2, 3]],
  ['b broadcast over rows', [2, 3], [3]],
  ['a broadcast over rows', [1, 3], [2, 3]],
  ['both broadcast', [2, 1, 3], [4, 1]],
  ['scalar b', [2, 3], []],
];

const binaryOps = { add: ops.add, sub: ops.sub, mul: ops.mul, div: ops.div };

const binaryCases: OpCase[] = (['add', 'sub', 'mul', 'div'] as const).flatMap((op) =>
  binaryShapes.map(
    ([label, sa, sb]): OpCase => ({
      name: `${op} ${label} [${sa}] [${sb}]`,
      inputs: (rng) => [normal(rng, sa), op === 'div' ? positive(rng, sb) : normal(rng, sb)],
      run: ([a, b]) => binaryOps[op](a!, b!),
    }),
  ),
);

const scalarOperandCases: OpCase[] = [
  { name: 'add number', inputs: (rng) => [normal(rng, [5])], run: ([x]) => ops.add(x!, 2.5) },
  { name: 'sub number', inputs: (rng) => [normal(rng, [5])], run: ([x]) => ops.sub(x!, 0.75) },
  { name: 'mul number', inputs: (rng) => [normal(rng, [5])], run: ([x]) => ops.mul(x!, -3) },
  { name: 'div number', inputs: (rng) => [normal(rng, [5])], run: ([x]) => ops.div(x!, 4) },
  { name: 'affine', inputs: (rng) => [normal(rng, [2, 3])], run: ([x]) => ops.affine(x!, -1.5, 0.25) },
  {
    name: 'softcap',
    inputs: (rng) => [normal(rng, [2, 4], { scale: 20 })],
    run: ([x]) => ops.softcap(x!, 30),
  },
];

const reduceCases: OpCase[] = [
  { name: 'sum all', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.sum(x!) },
  { name: 'sum trailing axis', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.sum(x!, -1) },
  { name: 'sum leading axes', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.sum(x!, [0, 1]) },
  {
    name: 'sum middle axis keepDims',
    inputs: (rng) => [normal(rng, [2, 3, 4])],
    run: ([x]) => ops.sum(x!, 1, true),
  },
  { name: 'sum axes 0,2', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.sum(x!, [0, 2]) },
  { name: 'mean all', inputs: (rng) => [normal(rng, [3, 4])], run: ([x]) => ops.mean(x!) },
  { name: 'mean axis keepDims', inputs: (rng) => [normal(rng, [3, 4])], run: ([x]) => ops.mean(x!, 0, true) },
  { name: 'sumTo [3,1]', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.sumTo(x!, [3, 1]) },
  {
    name: 'broadcastTo',
    inputs: (rng) => [normal(rng, [3, 1])],
    run: ([x]) => ops.broadcastTo(x!, [2, 3, 4]),
  },
  {
    // 17 tensors (webgpu: more than one dispatch's bindings), one of 5000 elements (several chunks), one empty.
    name: 'sumSquares of 17 tensors',
    inputs: (rng) => [
      normal(rng, [5000], { scale: 0.1 }),
      normal(rng, [0, 3]),
      ...Array.from({ length: 15 }, (_, i) => normal(rng, [1 + (i % 4), 2 + i])),
    ],
    run: (xs) => ops.sumSquares(xs),
  },
];

const matmulCases: OpCase[] = [
  ...([false, true] as const).flatMap((transA) =>
    ([false, true] as const).map(
      (transB): OpCase => ({
        name: `matmul 2d transA=${transA} transB=${transB}`,
        inputs: (rng) => [normal(rng, transA ? [4, 3] : [3, 4]), normal(rng, transB ? [5, 4] : [4, 5])],
        run: ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
      }),
    ),
  ),
  ...([false, true] as const).flatMap((transA) =>
    ([false, true] as const).map(
      (transB): OpCase => ({
        name: `matmul broadcast batch transA=${transA} transB=${transB}`,
        // batch [2, 1] with [3] -> [2, 3]
        inputs: (rng) => [
          normal(rng, transA ? [2, 1, 4, 3] : [2, 1, 3, 4]),
          normal(rng, transB ? [3, 2, 4] : [3, 4, 2]),
        ],
        run: ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
      }),
    ),
  ),
  {
    name: 'matmul batched [2,3,4] @ [2,4,5]',
    inputs: (rng) => [normal(rng, [2, 3, 4]), normal(rng, [2, 4, 5])],
    run: ([a, b]) => ops.matmul(a!, b!),
  },
  {
    name: 'matmul rank-2 weight shared over a batch',
    inputs: (rng) => [normal(rng, [2, 3, 4]), normal(rng, [4, 2])],
    run: ([a, b]) => ops.matmul(a!, b!),
  },
  {
    name: 'linear with bias',
    inputs: (rng) => [normal(rng, [2, 3, 4]), normal(rng, [5, 4]), normal(rng, [5])],
    run: ([x, w, b]) => ops.linear(x!, w!, b!),
  },
  {
    name: 'linear without bias',
    inputs: (rng) => [normal(rng, [3, 4]), normal(rng, [2, 4])],
    run: ([x, w]) => ops.linear(x!, w!),
  },
];

const layoutCases: OpCase[] = [
  { name: 'reshape -1', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.reshape(x!, [4, -1]) },
  {
    name: 'permute [2,0,1]',
    inputs: (rng) => [normal(rng, [2, 3, 4])],
    run: ([x]) => ops.permute(x!, [2, 0, 1]),
  },
  {
    name: 'permute 4d [0,2,1,3]',
    inputs: (rng) => [normal(rng, [2, 3, 2, 4])],
    run: ([x]) => ops.permute(x!, [0, 2, 1, 3]),
  },
  { name: 'transpose last two', inputs: (rng) => [normal(rng, [2, 3, 4])], run: ([x]) => ops.transpose(x!) },
  {
    name: 'transpose axes 0,2',
    inputs: (rng) => [normal(rng, [2, 3, 4])],
    run: ([x]) => ops.transpose(x!, 0, 2),
  },
  {
    name: 'slice middle axis',
    inputs: (rng) => [normal(rng, [2, 5, 3])],
    run: ([x]) => ops.slice(x!, 1, 1, 4),
  },
  { name: 'slice last axis', inputs: (rng) => [normal(rng, [3, 6])], run: ([x]) => ops.slice(x!, -1, 2, 5) },
  {
    name: 'concat three along axis 1',
    inputs: (rng) => [normal(rng, [2, 1, 3]), normal(rng, [2, 2, 3]), normal(rng, [2, 3, 3])],
    run: (xs) => ops.concat(xs, 1),
  },
  {
    name: 'concat along axis 0',
    inputs: (rng) => [normal(rng, [1, 4]), normal(rng, [2, 4])],
    run: (xs) => ops.concat(xs, 0),
  },
  {
    name: 'split and reorder (middle part unused)',
    inputs: (rng) => [normal(rng, [2, 6])],
    run: ([x]) => {
      const [a, , c] = ops.split(x!, 1, [1, 2, 3]);
      return ops.concat([c!, a!], 1);
    },
  },
];

const crossEntropyInputs =
  (withIgnored: boolean) =>
  (rng: Rng): HostInput[] => {
    const targets = ids(rng, [2, 3], 7);
    if (withIgnored) {
      (targets.data as Int32Array)[1] = -100;
      (targets.data as Int32Array)[4] = -100;
    }
    return [normal(rng, [2, 3, 7], { scale: 2 }), targets];
  };

const nnCases: OpCase[] = [
  { name: 'softmax', inputs: (rng) => [normal(rng, [3, 5], { scale: 2 })], run: ([x]) => ops.softmax(x!) },
  {
    name: 'softmax of huge logits',
    inputs: (rng) => [normal(rng, [3, 6], { scale: 200 })],
    run: ([x]) => ops.softmax(x!),
  },
  {
    name: 'softmax with -Infinity entries (forward only)',
    inputs: () => [
      constant([1000, 999, Number.NEGATIVE_INFINITY, 0, Number.NEGATIVE_INFINITY, 5, 3, -1e4], [2, 4]),
    ],
    run: ([x]) => ops.softmax(x!),
  },
  { name: 'argmax', inputs: (rng) => [normal(rng, [4, 6], { grad: false })], run: ([x]) => ops.argmax(x!) },
  { name: 'crossEntropy mean', inputs: crossEntropyInputs(false), run: ([l, t]) => ops.crossEntropy(l!, t!) },
  {
    name: 'crossEntropy mean with ignoreIndex',
    inputs: crossEntropyInputs(true),
    run: ([l, t]) => ops.crossEntropy(l!, t!),
  },
  {
    name: 'crossEntropy sum with ignoreIndex',
    inputs: crossEntropyInputs(true),
    run: ([l, t]) => ops.crossEntropy(l!, t!, { reduction: 'sum' }),
  },
  {
    name: 'crossEntropy of huge logits',
    inputs: (rng) => [normal(rng, [4, 6], { scale: 300 }), ids(rng, [4], 6)],
    run: ([l, t]) => ops.crossEntropy(l!, t!, { reduction: 'sum' }),
  },
  {
    name: 'crossEntropy none with custom ignoreIndex',
    inputs: (rng) => {
      const targets = ids(rng, [5], 4);
      (targets.data as Int32Array)[2] = 3;
      return [normal(rng, [5, 4]), targets];
    },
    run: ([l, t]) => ops.crossEntropy(l!, t!, { reduction: 'none', ignoreIndex: 3 }),
  },
  {
    name: 'embedding with repeated ids',
    inputs: (rng) => [
      normal(rng, [6, 3]),
      { data: Int32Array.from([1, 4, 1, 0, 5, 1]), shape: [2, 3], grad: false },
    ],
    run: ([w, i]) => ops.embedding(w!, i!),
  },
  {
    name: 'rmsNorm with weight',
    inputs: (rng) => [normal(rng, [2, 3, 5]), normal(rng, [5])],
    run: ([x, w]) => ops.rmsNorm(x!, w!, { eps: 1e-5 }),
  },
  {
    name: 'rmsNorm without weight',
    inputs: (rng) => [normal(rng, [3, 4])],
    run: ([x]) => ops.rmsNorm(x!, null, { eps: 1e-6 }),
  },
  {
    name: 'rmsNorm plusOne (Gemma)',
    inputs: (rng) => [normal(rng, [3, 4]), normal(rng, [4], { scale: 0.3 })],
    run: ([x, w]) => ops.rmsNorm(x!, w!, { eps: 1e-6, plusOne: true }),
  },
  {
    name: 'layerNorm weight and bias',
    inputs: (rng) => [normal(rng, [2, 3, 5]), normal(rng, [5]), normal(rng, [5])],
    run: ([x, w, b]) => ops.layerNorm(x!, w!, b!, 1e-5),
  },
  {
    name: 'layerNorm no affine',
    inputs: (rng) => [normal(rng, [3, 4])],
    run: ([x]) => ops.layerNorm(x!, null, null, 1e-5),
  },
  {
    name: 'layerNorm weight only',
    inputs: (rng) => [normal(rng, [3, 4]), normal(rng, [4])],
    run: ([x, w]) => ops.layerNorm(x!, w!, null, 1e-5),
  },
  {
    name: 'layerNorm bias only',
    inputs: (rng) => [normal(rng, [3, 4]), normal(rng, [4])],
    run: ([x, b]) => ops.layerNorm(x!, null, b!, 1e-5),
  },
  {
    name: 'rope rotate-half',
    inputs: (rng) => [normal(rng, [2, 3, 2, 4]), ...ropeTables(0, 3, 2)],
    run: ([x, c, s]) => ops.rope(x!, c!, s!),
  },
  {
    name: 'rope partial (rotary dim 4 of 6) from position 5',
    inputs: (rng) => [normal(rng, [3, 2, 6]), ...ropeTables(5, 3, 2, 100)],
    run: ([x, c, s]) => ops.rope(x!, c!, s!, { rotaryDim: 4 }),
  },
  {
    name: 'rope heads-first (rotation and transpose in one pass)',
    inputs: (rng) => [normal(rng, [2, 3, 2, 6]), ...ropeTables(2, 3, 3)],
    run: ([x, c, s]) => ops.rope(x!, c!, s!, { headsFirst: true }),
  },
  {
    name: 'rope interleaved partial',
    inputs: (rng) => [normal(rng, [3, 2, 6]), ...ropeTables(1, 3, 2, 50)],
    run: ([x, c, s]) => ops.rope(x!, c!, s!, { rotaryDim: 4, interleaved: true }),
  },
];

const attentionCases: OpCase[] = [
  {
    name: 'attention MHA causal',
    inputs: (rng) => [normal(rng, [1, 2, 3, 4]), normal(rng, [1, 2, 3, 4]), normal(rng, [1, 2, 3, 4])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!),
  },
  {
    name: 'attention GQA 4/2 offset queries, window 3, softcap 5',
    inputs: (rng) => [normal(rng, [1, 4, 2, 4]), normal(rng, [1, 2, 5, 4]), normal(rng, [1, 2, 5, 3])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, { window: 3, softcap: 5 }),
  },
  {
    name: 'attention MQA non-causal with scale, batch 2',
    inputs: (rng) => [normal(rng, [2, 3, 2, 2]), normal(rng, [2, 1, 4, 2]), normal(rng, [2, 1, 4, 2])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, { causal: false, scale: 0.8 }),
  },
  {
    name: 'attention GQA 6/2 causal, odd sizes T=7 S=13 D=12',
    inputs: (rng) => [normal(rng, [1, 6, 7, 12]), normal(rng, [1, 2, 13, 12]), normal(rng, [1, 2, 13, 12])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!),
  },
  {
    name: 'attention MQA non-causal window 4, softcap 3, T=7 S=13 D=12 Dv=5',
    inputs: (rng) => [normal(rng, [1, 3, 7, 12]), normal(rng, [1, 1, 13, 12]), normal(rng, [1, 1, 13, 5])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, { causal: false, window: 4, softcap: 3, scale: 0.6 }),
  },
  {
    name: 'attention GQA 4/2 batch 2, D=24 Dv=16 (MLA-like), causal window 5, T=6 S=9',
    inputs: (rng) => [normal(rng, [2, 4, 6, 24]), normal(rng, [2, 2, 9, 24]), normal(rng, [2, 2, 9, 16])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, { window: 5 }),
  },
  {
    name: 'attention MHA non-causal T<S, softcap 1.5 (scores past the cap)',
    inputs: (rng) => [
      normal(rng, [1, 2, 3, 8], { scale: 2 }),
      normal(rng, [1, 2, 6, 8]),
      normal(rng, [1, 2, 6, 8]),
    ],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, { causal: false, softcap: 1.5 }),
  },
  {
    name: 'attention decode step T=1 S=11, GQA 4/1, window 6',
    inputs: (rng) => [normal(rng, [1, 4, 1, 8]), normal(rng, [1, 1, 11, 8]), normal(rng, [1, 1, 11, 8])],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, { window: 6 }),
  },
];

const inPlaceCases: OpCase[] = [
  {
    name: 'writeSlice into the middle of axis 2 (a KV-cache append)',
    inputs: (rng) => [normal(rng, [2, 3, 6, 4], { grad: false }), normal(rng, [2, 3, 2, 4], { grad: false })],
    run: ([dst, src]) => {
      const copy = ops.affine(dst!, 1, 0);
      ops.writeSlice(copy, src!, 2, 3);
      return copy;
    },
  },
];

const routingCases: OpCase[] = [
  {
    name: 'routeTopK top-2 of 6 experts',
    inputs: (rng) => [normal(rng, [5, 6], { grad: false })],
    run: ([scores]) => ops.routeTopK(scores!, { k: 2 }),
  },
  {
    name: 'routeTopK with correction bias, 4 groups keeping 2 (top-2 sum), top-3 of 8',
    inputs: (rng) => [normal(rng, [7, 8], { grad: false }), normal(rng, [8], { grad: false, scale: 0.5 })],
    run: ([scores, correction]) =>
      ops.routeTopK(scores!, {
        k: 3,
        correction: correction!,
        groups: { numGroups: 4, topkGroup: 2, groupScore: 'top2_sum' },
      }),
  },
  {
    name: 'routeTopK group max score, ties to the lower index',
    inputs: () => [{ data: Float64Array.from([1, 1, 0.5, 0.5, 2, 2, 2, 0]), shape: [2, 4], grad: false }],
    run: ([scores]) =>
      ops.routeTopK(scores!, { k: 1, groups: { numGroups: 2, topkGroup: 1, groupScore: 'max' } }),
  },
];

const dropoutCases: OpCase[] = [
  {
    name: 'dropout p 0.25 seed 1234 (the same mask on every backend)',
    inputs: (rng) => [normal(rng, [3, 5, 7])],
    run: ([x]) => ops.dropout(x!, 0.25, 1234),
  },
];

const optimizerCases: OpCase[] = [
  {
    name: 'adamw kernel step 3',
    inputs: (rng) => [
      normal(rng, [7], { grad: false }),
      normal(rng, [7], { grad: false }),
      normal(rng, [7], { grad: false, scale: 0.1 }),
      positive(rng, [7], { grad: false, low: 0.01, high: 0.1 }),
    ],
    run: ([param, grad, m, v]) => {
      // The kernel updates param, m and v in place: work on copies and return them side by side.
      const [p, m1, v1] = [param!, m!, v!].map((t) => ops.affine(t, 1, 0)) as [Tensor, Tensor, Tensor];
      const attrs = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 3 };
      ops.runKernel('adamw', [p, grad!, m1, v1], attrs, []);
      return ops.concat([p, m1, v1], 0);
    },
  },
  {
    // Six tensors in one call (webgpu: four per dispatch, then two), one of 600 elements (three
    // workgroups), a decay per tensor and a gradient scale.
    name: 'adamw kernel six tensors, per-tensor decay, gradient scale',
    inputs: (rng) =>
      [7, 600, 1, 33, 256, 5].flatMap((n) => [
        normal(rng, [n], { grad: false }),
        normal(rng, [n], { grad: false }),
        normal(rng, [n], { grad: false, scale: 0.1 }),
        positive(rng, [n], { grad: false, low: 0.01, high: 0.1 }),
      ]),
    run: (xs) => {
      const inputs: Tensor[] = [];
      const updated: Tensor[] = [];
      for (let t = 0; 4 * t < xs.length; t++) {
        const [param, grad, m, v] = xs.slice(4 * t, 4 * t + 4) as [Tensor, Tensor, Tensor, Tensor];
        const [p, m1, v1] = [param, m, v].map((x) => ops.affine(x, 1, 0)) as [Tensor, Tensor, Tensor];
        inputs.push(p, grad, m1, v1);
        updated.push(p, m1, v1);
      }
      const weightDecay = [0.1, 0, 0.1, 0.05, 0, 0.2];
      const attrs = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay, step: 2, gradScale: 0.5 };
      ops.runKernel('adamw', inputs, attrs, []);
      return ops.concat(updated, 0);
    },
  },
];

/** Every op case. */
export const opCases: readonly OpCase[] = [
  ...unaryCases,
  ...extremeCases,
  ...gatedCases,
  ...binaryCases,
  ...scalarOperandCases,
  ...reduceCases,
  ...matmulCases,
  ...layoutCases,
  ...nnCases,
  ...attentionCases,
  ...inPlaceCases,
  ...routingCases,
  ...dropoutCases,
  ...optimizerCases,
];

// ---- runners ----

/** A stable seed per case name (FNV-1a), so a case draws the same inputs on every backend and run. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function toTensor(input: HostInput, backend: Backend, dtype: 'float32' | 'float64'): Tensor {
  if (input.data instanceof Int32Array) return ops.tensor(input.data, input.shape, { backend });
  return ops.tensor(input.data, input.shape, { dtype, backend });
}

export interface CaseResult {
  shape: readonly number[];
  output: ArrayLike<number>;
  /** Gradient of Σ output ⊙ P for each input (null where the input is not differentiated). */
  grads: (ArrayLike<number> | null)[];
}

/** Runs one case on a backend: forward, then backward of a seeded random projection of the output. */
export async function evaluateCase(
  opCase: OpCase,
  backend: Backend,
  dtype: 'float32' | 'float64' = 'float32',
): Promise<CaseResult> {
  const hosts = opCase.inputs(new Rng(seedOf(opCase.name)));
  return scopeAsync(async () => {
    const leaves = hosts.map((h) => {
      const t = toTensor(h, backend, dtype);
      t.requiresGrad = h.grad;
      return t;
    });
    const out = opCase.run(leaves);
    const result: CaseResult = { shape: out.shape, output: await out.data(), grads: hosts.map(() => null) };
    if (!hosts.some((h) => h.grad)) return result;
    if (!out.requiresGrad)
      throw new Error('the output does not require gradients (no gradient rule was recorded)');
    const rng = new Rng(seedOf(`${opCase.name} projection`));
    const projection = new Float64Array(out.size);
    for (let i = 0; i < projection.length; i++) projection[i] = rng.normal();
    ops.backward(ops.sum(ops.mul(out, ops.tensor(projection, out.shape, { dtype: out.dtype, backend }))));
    for (const [i, leaf] of leaves.entries()) {
      if (!hosts[i]!.grad) continue;
      result.grads[i] = leaf.grad ? await leaf.grad.data() : new Float64Array(leaf.size);
      leaf.grad?.dispose();
      leaf.grad = null;
    }
    return result;
  });
}

/**
 * Compares a backend's float32 forward and gradients with the cpu backend's for every case. Throws one
 * error listing every failing case (with the worst element), including cases whose kernels are missing.
 * Returns the names of the cases checked.
 */
export async function checkForwardAgainstCpu(
  backendName: string,
  cases: readonly OpCase[] = opCases,
  tolerance: Tolerance = { atol: 1e-4, rtol: 1e-4 },
): Promise<string[]> {
  const backend = findBackend(backendName);
  if (!backend) throw new Error(`backend '${backendName}' is not registered`);
  const cpu = findBackend('cpu')!;
  const failures: string[] = [];
  for (const opCase of cases) {
    const atol = Math.max(tolerance.atol, opCase.tolerance?.atol ?? 0);
    const rtol = Math.max(tolerance.rtol, opCase.tolerance?.rtol ?? 0);
    try {
      const expected = await evaluateCase(opCase, cpu);
      const actual = await evaluateCase(opCase, backend);
      if (actual.shape.join() !== expected.shape.join()) {
        throw new Error(`output shape [${actual.shape}], cpu gives [${expected.shape}]`);
      }
      assertClose(actual.output, expected.output, { atol, rtol, shape: expected.shape, message: 'forward' });
      expected.grads.forEach((g, i) => {
        if (g) assertClose(actual.grads[i]!, g, { atol, rtol, message: `gradient of input ${i}` });
      });
    } catch (error) {
      failures.push(`  ${opCase.name}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${cases.length} op cases differ on '${backendName}' from cpu:\n${failures.join('\n')}`,
    );
  }
  return cases.map((c) => c.name);
}

/** True when the case has an input to differentiate. */
export function isDifferentiable(opCase: OpCase): boolean {
  return opCase.inputs(new Rng(seedOf(opCase.name))).some((h) => h.grad);
}

/** Finite-difference check (float64, cpu) of a case's gradients. */
export function gradcheckCase(opCase: OpCase, options: GradcheckOptions = {}): void {
  const cpu = findBackend('cpu')!;
  const hosts = opCase.inputs(new Rng(seedOf(opCase.name)));
  const wrt = hosts.flatMap((h, i) => (h.grad ? [i] : []));
  const inputs = hosts.map((h) => toTensor(h, cpu, 'float64'));
  try {
    gradcheck((...xs) => opCase.run(xs), inputs, { wrt, name: opCase.name, ...options });
  } finally {
    for (const t of inputs) t.dispose();
  }
}
