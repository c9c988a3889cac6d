/** C[i, j] = Σ_p A[i, p]·B[j, p] for j in [j0, j1): the A·Bᵀ loop of the cpu matmul (and its workers). */
export function rowDots(
  a: ArrayLike<number> & { [i: number]: number },
  ao: number,
  b: ArrayLike<number>,
  bo: number,
  c: { [i: number]: number },
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
