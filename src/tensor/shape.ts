/** Shape arithmetic shared by every op and backend. Shapes are row-major and contiguous. */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** NumPy broadcasting: align trailing axes; each pair must be equal or contain a 1. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` viewed as broadcast to `target` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const own = stridesOf(shape);
  const offset = target.length - shape.length;
  return target.map((_, i) => {
    const axis = i - offset;
    if (axis < 0 || shape[axis] === 1) return 0;
    return own[axis]!;
  });
}

export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for a tensor of rank ${rank}`);
  return a;
}

/** Resolves one -1 in a requested shape against a total size. */
export function inferShape(requested: Shape, size: number): number[] {
  const unknown = requested.indexOf(-1);
  const valid = requested.every((d, i) => (Number.isInteger(d) && d >= 0) || (d === -1 && i === unknown));
  if (!valid) throw new Error(`cannot reshape ${size} elements into ${formatShape(requested)}`);
  if (unknown === -1) {
    if (sizeOf(requested) !== size) {
      throw new Error(`cannot reshape ${size} elements into ${formatShape(requested)}`);
    }
    return [...requested];
  }
  const known = sizeOf(requested.filter((_, i) => i !== unknown));
  if (known === 0 || size % known !== 0) {
    throw new Error(`cannot reshape ${size} elements into ${formatShape(requested)}`);
  }
  const out = [...requested];
  out[unknown] = size / known;
  return out;
}

/** True when `small` broadcast to `big` repeats along leading axes only (its shape is a suffix of big's). */
export function isBroadcastSuffix(small: Shape, big: Shape): boolean {
  const offset = big.length - small.length;
  let leadingOnes = true;
  for (let i = 0; i < small.length; i++) {
    if (small[i] === 1 && leadingOnes && big[offset + i] !== 1) continue;
    leadingOnes = false;
    if (small[i] !== big[offset + i]) return false;
  }
  return true;
}
