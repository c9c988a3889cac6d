/**
 * The cpu matmul's loops for one batch, over a range of output columns [j0, j1): the single-threaded
 * kernel runs the whole range, the thread pool's workers a part each. Every output element accumulates
 * in the same order whatever the range, so a split is bit-identical to one thread.
 */
type Readable = ArrayLike<number>;
type Writable = { [i: number]: number };

/** C[i, j] = Σ_p A[i, p]·B[j, p] (A [M,K], B [N,K]) for j in [j0, j1). */
export function rowDots(
  a: Readable,
  ao: number,
  b: Readable,
  bo: number,
  c: Writable,
  co: number,
  m: number,
  n: number,
  k: number,
  j0 = 0,
  j1 = n,
): void {
  // Row j of B (a weight row) stays in cache while every row of A meets it: B, the large operand of a
  // linear layer, is read once (the rows of A are few).
  for (let j = j0; j < j1; j++) {
    const brow = bo + j * k;
    for (let i = 0; i < m; i++) {
      const arow = ao + i * k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let p = 0;
      for (; p + 3 < k; p += 4) {
        s0 += a[arow + p]! * b[brow + p]!;
        s1 += a[arow + p + 1]! * b[brow + p + 1]!;
        s2 += a[arow + p + 2]! * b[brow + p + 2]!;
        s3 += a[arow + p + 3]! * b[brow + p + 3]!;
      }
      for (; p < k; p++) s0 += a[arow + p]! * b[brow + p]!;
      c[co + i * n + j] = s0 + s1 + s2 + s3;
    }
  }
}

/**
 * C[M,N] (+)= op(A)·op(B) for columns [j0, j1) (C zeroed by the caller for the accumulating forms).
 * `skipZeros` skips zero entries of A in the forms that accumulate rows of B (exact when B is finite).
 */
export function gemmColumns(
  a: Readable,
  ao: number,
  b: Readable,
  bo: number,
  c: Writable,
  co: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  skipZeros: boolean,
  j0 = 0,
  j1 = n,
): void {
  if (!transA && !transB) {
    // A [M,K], B [K,N]: row of C accumulates rows of B.
    for (let i = 0; i < m; i++) {
      const crow = co + i * n;
      for (let p = 0; p < k; p++) {
        const aip = a[ao + i * k + p]!;
        if (skipZeros && aip === 0) continue;
        const brow = bo + p * n;
        for (let j = j0; j < j1; j++) c[crow + j]! += aip * b[brow + j]!;
      }
    }
  } else if (!transA && transB) {
    rowDots(a, ao, b, bo, c, co, m, n, k, j0, j1);
  } else if (transA && !transB) {
    // A [K,M], B [K,N]
    for (let p = 0; p < k; p++) {
      const brow = bo + p * n;
      for (let i = 0; i < m; i++) {
        const api = a[ao + p * m + i]!;
        if (skipZeros && api === 0) continue;
        const crow = co + i * n;
        for (let j = j0; j < j1; j++) c[crow + j]! += api * b[brow + j]!;
      }
    }
  } else {
    // A [K,M], B [N,K]
    for (let i = 0; i < m; i++) {
      for (let j = j0; j < j1; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ao + p * m + i]! * b[bo + j * k + p]!;
        c[co + i * n + j] = s;
      }
    }
  }
}
