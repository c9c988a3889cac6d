/**
 * WGSL helpers for the elementwise table's `wgsl` expressions, over `T` (f32 or vec4<f32>). The WGSL
 * built-ins have no erf, and Vulkan lets `tanh` lose relative accuracy near 0, so these are written out
 * to about 1e-7 relative error: erf by its Maclaurin series for |z| < 1 and by the Numerical Recipes
 * erfc Chebyshev fit (fractional error < 1.2e-7) beyond, where 1 − erf would cancel.
 */

const twoOverSqrtPi = 2 / Math.sqrt(Math.PI);

/** erf(z) = 2/√π Σ (-1)^n z^(2n+1) / (n! (2n+1)); 13 terms reach 1e-10 at |z| = 1. */
function erfSeriesCoefficients(terms: number): number[] {
  const coefficients: number[] = [];
  let factorial = 1;
  for (let n = 0; n < terms; n++) {
    if (n > 0) factorial *= n;
    coefficients.push((twoOverSqrtPi * (-1) ** n) / (factorial * (2 * n + 1)));
  }
  return coefficients;
}

/** Horner form of Σ c_n v^n as a WGSL expression. */
function horner(coefficients: readonly number[], v: string): string {
  let expr = literal(coefficients[coefficients.length - 1]!);
  for (let n = coefficients.length - 2; n >= 0; n--) expr = `${literal(coefficients[n]!)} + ${v} * (${expr})`;
  return expr;
}

function literal(value: number): string {
  const text = value.toPrecision(17);
  return text.includes('.') || text.includes('e') ? text : `${text}.0`;
}

// tanh x = x (1 − x²/3 + 2x⁴/15 − 17x⁶/315 + …): the odd Taylor coefficients, used for |x| < 0.55.
const tanhSeries = [
  1,
  -1 / 3,
  2 / 15,
  -17 / 315,
  62 / 2835,
  -1382 / 155925,
  21844 / 6081075,
  -929569 / 638512875,
  6404582 / 10854718875,
];

const erfcFit = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
  -0.82215223, 0.17087277,
];

/** WGSL source of the helpers; `T` must be declared (alias) before it. */
export const wgslMath = /* wgsl */ `
fn erfSeries_(z: T) -> T {
  let z2 = z * z;
  return z * (${horner(erfSeriesCoefficients(13), 'z2')});
}
// erfc(z) for z >= 0 (Numerical Recipes erfcc).
fn erfcPos_(z: T) -> T {
  let t = 1.0 / (1.0 + 0.5 * z);
  return t * exp(-z * z + (${horner(erfcFit, 't')}));
}
fn erf_(z: T) -> T {
  let az = abs(z);
  return select(sign(z) * (1.0 - erfcPos_(az)), erfSeries_(z), az < T(1.0));
}
// Φ(x), the standard normal CDF, without cancellation in either tail.
fn normalCdf_(x: T) -> T {
  let z = x * ${literal(Math.SQRT1_2)};
  let az = abs(z);
  let ec = 0.5 * erfcPos_(az);
  let tail = select(ec, 1.0 - ec, z > T(0.0));
  return select(tail, 0.5 + 0.5 * erfSeries_(z), az < T(1.0));
}
fn gelu_(x: T) -> T { return x * normalCdf_(x); }
fn geluGrad_(x: T) -> T {
  return normalCdf_(x) + x * exp(-0.5 * x * x) * ${literal(1 / Math.sqrt(2 * Math.PI))};
}
fn tanh_(x: T) -> T {
  let ax = abs(x);
  let x2 = x * x;
  let small = x * (${horner(tanhSeries, 'x2')});
  let e = exp(2.0 * min(ax, T(20.0)));
  let big = sign(x) * (1.0 - 2.0 / (e + 1.0));
  return select(big, small, ax < T(0.55));
}
fn siluGrad_(x: T) -> T {
  let s = 1.0 / (1.0 + exp(-x));
  return s * (1.0 + x * (1.0 - s));
}
fn geluTanhGrad_(x: T) -> T {
  // With s = σ(2u) = 0.5·(1 + tanh u): d/dx x·s = s + 2x·s·(1 − s)·u'.
  let c = ${literal(Math.sqrt(2 / Math.PI))};
  let u2 = 2.0 * c * (x + 0.044715 * x * x * x);
  let s = 1.0 / (1.0 + exp(-u2));
  let rest = 1.0 / (1.0 + exp(u2));
  return s + 2.0 * x * s * rest * c * (1.0 + 3.0 * 0.044715 * x * x);
}
`;
