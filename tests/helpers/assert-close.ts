/** Elementwise closeness assertion that names the worst element, for float tests on any backend. */
import { AssertionError } from 'node:assert';

export interface Tolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance (scaled by |expected|). */
  rtol: number;
}

export interface CloseOptions extends Partial<Tolerance> {
  /** Shape of the arrays, to print the worst element as a multi-index. */
  shape?: readonly number[];
  /** Prefix of the failure message (what is being compared). */
  message?: string;
}

function formatIndex(flat: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length === 0) return `[${flat}]`;
  const index = new Array<number>(shape.length);
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = rest % shape[d]!;
    rest = Math.floor(rest / shape[d]!);
  }
  return `[${index.join(', ')}]`;
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| everywhere (equal infinities pass; NaN passes only
 * against NaN). The error names the worst element by its excess over the tolerance.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-6, rtol = 1e-6, shape, message = 'values differ' }: CloseOptions = {},
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${message}: ${actual.length} values, expected ${expected.length}`,
      actual: actual.length,
      expected: expected.length,
    });
  }
  let worst = -1;
  let worstExcess = 0;
  let failures = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    // NaN or an infinity on one side only is always a failure.
    if (!(excess <= 0)) {
      failures++;
      const score = Number.isNaN(excess) ? Infinity : excess;
      if (worst < 0 || score > worstExcess) {
        worst = i;
        worstExcess = score;
      }
    }
  }
  if (worst >= 0) {
    const a = actual[worst]!;
    const e = expected[worst]!;
    throw new AssertionError({
      message:
        `${message}: ${failures} of ${actual.length} elements outside atol=${atol}, rtol=${rtol}; ` +
        `worst at ${formatIndex(worst, shape)}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)})`,
      actual: a,
      expected: e,
    });
  }
}
