/**
 * The one declarative table of elementwise ops. Every backend generates its kernels from it (the cpu
 * backend compiles the `js` expressions; the WebGPU backend the `wgsl` ones), so adding an activation
 * means adding one row here.
 *
 * Unary rows: `js` is an expression in `x`; `jsGrad` an expression in `x`, `y` (the forward output) and
 * `dy` giving dL/dx. Expressions may call the helpers in `jsHelpers` as `M.name(...)`.
 * Binary rows: `js` is an expression in `a` and `b`; their gradients are written as ops in elementwise.ts.
 *
 * `wgsl` / `wgslGrad` are the same expressions in WGSL, over the type `T` (f32, or vec4<f32> in the
 * vectorised kernels), so they must use componentwise forms: `select(f, t, cond)` instead of `?:`,
 * `T(0.0)` for constants compared or selected against. They may call the helpers of
 * src/backend/webgpu/kernels/wgsl-math.ts (`erf_`, `tanh_`, `gelu_`, ...), which hold the accurate
 * approximations that the WGSL built-ins lack.
 */

export interface UnaryOpSpec {
  readonly name: string;
  readonly js: string;
  readonly jsGrad: string;
  readonly wgsl: string;
  readonly wgslGrad: string;
}

export interface BinaryOpSpec {
  readonly name: string;
  readonly js: string;
  readonly wgsl: string;
}

const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_TANH_C = 0.044715;

export const unaryOps = {
  neg: { name: 'neg', js: '-x', jsGrad: '-dy', wgsl: '-x', wgslGrad: '-dy' },
  exp: { name: 'exp', js: 'Math.exp(x)', jsGrad: 'dy * y', wgsl: 'exp(x)', wgslGrad: 'dy * y' },
  log: { name: 'log', js: 'Math.log(x)', jsGrad: 'dy / x', wgsl: 'log(x)', wgslGrad: 'dy / x' },
  sqrt: {
    name: 'sqrt',
    js: 'Math.sqrt(x)',
    jsGrad: '0.5 * dy / y',
    wgsl: 'sqrt(x)',
    wgslGrad: '0.5 * dy / y',
  },
  rsqrt: {
    name: 'rsqrt',
    js: '1 / Math.sqrt(x)',
    jsGrad: '-0.5 * dy * y * y * y',
    wgsl: '1.0 / sqrt(x)',
    wgslGrad: '-0.5 * dy * y * y * y',
  },
  reciprocal: {
    name: 'reciprocal',
    js: '1 / x',
    jsGrad: '-dy * y * y',
    wgsl: '1.0 / x',
    wgslGrad: '-dy * y * y',
  },
  square: { name: 'square', js: 'x * x', jsGrad: '2 * x * dy', wgsl: 'x * x', wgslGrad: '2.0 * x * dy' },
  abs: {
    name: 'abs',
    js: 'Math.abs(x)',
    jsGrad: 'dy * Math.sign(x)',
    wgsl: 'abs(x)',
    wgslGrad: 'dy * sign(x)',
  },
  sin: {
    name: 'sin',
    js: 'Math.sin(x)',
    jsGrad: 'dy * Math.cos(x)',
    wgsl: 'sin(x)',
    wgslGrad: 'dy * cos(x)',
  },
  cos: {
    name: 'cos',
    js: 'Math.cos(x)',
    jsGrad: '-dy * Math.sin(x)',
    wgsl: 'cos(x)',
    wgslGrad: '-dy * sin(x)',
  },
  tanh: {
    name: 'tanh',
    js: 'Math.tanh(x)',
    jsGrad: 'dy * (1 - y * y)',
    wgsl: 'tanh_(x)',
    wgslGrad: 'dy * (1.0 - y * y)',
  },
  sigmoid: {
    name: 'sigmoid',
    js: '1 / (1 + Math.exp(-x))',
    jsGrad: 'dy * y * (1 - y)',
    wgsl: '1.0 / (1.0 + exp(-x))',
    wgslGrad: 'dy * y * (1.0 - y)',
  },
  relu: {
    name: 'relu',
    js: 'x > 0 ? x : 0',
    jsGrad: 'x > 0 ? dy : 0',
    wgsl: 'select(T(0.0), x, x > T(0.0))',
    wgslGrad: 'select(T(0.0), dy, x > T(0.0))',
  },
  /** ReLU squared (Primer; Minitron). */
  relu2: {
    name: 'relu2',
    js: 'x > 0 ? x * x : 0',
    jsGrad: 'x > 0 ? 2 * x * dy : 0',
    wgsl: 'select(T(0.0), x * x, x > T(0.0))',
    wgslGrad: 'select(T(0.0), 2.0 * x * dy, x > T(0.0))',
  },
  /** SiLU / swish: x·σ(x). */
  silu: {
    name: 'silu',
    js: 'x / (1 + Math.exp(-x))',
    jsGrad: 'dy * M.siluGrad(x)',
    wgsl: 'x / (1.0 + exp(-x))',
    wgslGrad: 'dy * siluGrad_(x)',
  },
  /** Exact GELU: 0.5·x·(1 + erf(x/√2)) (HF "gelu"). */
  gelu: {
    name: 'gelu',
    js: '0.5 * x * (1 + M.erf(x * Math.SQRT1_2))',
    jsGrad: 'dy * M.geluGrad(x)',
    wgsl: 'gelu_(x)',
    wgslGrad: 'dy * geluGrad_(x)',
  },
  /** Tanh-approximated GELU (HF "gelu_new", "gelu_pytorch_tanh"). */
  geluTanh: {
    name: 'geluTanh',
    js: `0.5 * x * (1 + Math.tanh(${SQRT_2_OVER_PI} * (x + ${GELU_TANH_C} * x * x * x)))`,
    jsGrad: 'dy * M.geluTanhGrad(x)',
    // 0.5·(1 + tanh(u)) = σ(2u), which keeps the far negative tail that 1 + tanh loses in float32.
    wgsl: `x / (1.0 + exp(${-2 * SQRT_2_OVER_PI} * (x + ${GELU_TANH_C} * x * x * x)))`,
    wgslGrad: 'dy * geluTanhGrad_(x)',
  },
} as const satisfies Record<string, UnaryOpSpec>;

export type UnaryOpName = keyof typeof unaryOps;

export const binaryOps = {
  add: { name: 'add', js: 'a + b', wgsl: 'a + b' },
  sub: { name: 'sub', js: 'a - b', wgsl: 'a - b' },
  mul: { name: 'mul', js: 'a * b', wgsl: 'a * b' },
  div: { name: 'div', js: 'a / b', wgsl: 'a / b' },
} as const satisfies Record<string, BinaryOpSpec>;

export type BinaryOpName = keyof typeof binaryOps;

/**
 * erf to double precision: Maclaurin series for |x| < 3, continued fraction for erfc beyond
 * (both accurate to ~1e-14, so float64 gradient checks of GELU are meaningful).
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  let frac = ax;
  for (let n = 60; n >= 1; n--) frac = ax + n / 2 / frac;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / frac;
  return x > 0 ? 1 - erfc : erfc - 1;
}

export const jsHelpers = {
  erf,
  siluGrad(x: number): number {
    const s = 1 / (1 + Math.exp(-x));
    return s * (1 + x * (1 - s));
  },
  geluGrad(x: number): number {
    return 0.5 * (1 + erf(x * Math.SQRT1_2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
  },
  geluTanhGrad(x: number): number {
    const inner = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
    const t = Math.tanh(inner);
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_C * x * x);
  },
};
