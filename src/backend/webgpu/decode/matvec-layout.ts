/**
 * Layout of the planned decode's fused matvec (matvec-fused.ts): lanes per row, rows and row blocks per
 * workgroup, vectors per row and the unroll of a lane's strided loop, chosen per shape from H200
 * measurements.
 */
import type { FusedMatvecSpec } from './matvec-fused.js';

/**
 * Lanes per row: a whole workgroup (256) per row when a row is ≥ 192 vectors long and that makes at
 * most 1,024 workgroups; else the most of 128, 64 and 32 that keeps the dispatch at ≤ 512 workgroups
 * with a stride of whole rows (K ≥ lanes vectors). Few, long rows (down projections) get more lanes and
 * so more workgroups in flight; each workgroup reads all of x, so past ~512 (~1,024 for one row each)
 * the extra reads of x cost more than the parallelism gains. Measured per kernel on the H200 (µs a
 * layer): down projections SmolLM2 4.5 (32) → 3.84 (128) → 3.63 (256), Qwen2.5-0.5B 10.8 → 5.90 →
 * 5.68, Llama-3.2-1B 15.4 → 12.1 (64; 256 lanes: 12.4); Qwen's QKV 5.5 → 4.8 (64); Llama's QKV stays
 * at 32 (64 lanes: 8.6 → 9.9). The paired gate/up kernel and the combine prologue keep 32 (8, 16, 64 and
 * 128 lanes were slower on all three shapes: SmolLM2 gate/up 8.39 / 5.99 / 5.11 at 32 / 5.20 / 5.42).
 * The LM head's argmax takes 8: its rows are many and short, and 8 lanes put 32 rows on a workgroup's
 * one norm prologue (SmolLM2 28.9 → 25.3 µs, Qwen 103.4 → 87.1, Llama 170.5 → 164.9).
 */
export function matvecLanes(spec: FusedMatvecSpec): number {
  if (spec.lanes !== undefined) {
    if (![4, 8, 16, 32, 64, 128, 256].includes(spec.lanes))
      throw new Error(`matvec lanes must be a power of 2 from 4 to 256, got ${spec.lanes}`);
    return spec.lanes;
  }
  if (spec.epilogue === 'argmax') return 8;
  if (spec.epilogue === 'siluMul' || spec.combine) return 32;
  const kw = vectorsPerRow(spec);
  const rows = matvecOutputs(spec);
  if (kw >= 192 && rows <= 1024) return 256;
  for (const lanes of [128, 64]) if (kw >= lanes && Math.ceil((rows * lanes) / 256) <= 512) return lanes;
  return 32;
}

/** Row blocks an argmax workgroup walks (1 for other epilogues). */
export function rowBlocksOf(spec: FusedMatvecSpec): number {
  if (spec.epilogue !== 'argmax') return 1;
  const blocks = Math.ceil(matvecOutputs(spec) / (256 / matvecLanes(spec)));
  return spec.rowBlocks ?? Math.max(1, Math.ceil(blocks / 2048));
}

/** Output rows per workgroup of a spec (the dispatch is ceil(outputs / this) workgroups). */
export function matvecRowsPerGroup(spec: FusedMatvecSpec): number {
  return (256 / matvecLanes(spec)) * rowBlocksOf(spec);
}

/** Loads per row and lane: vec4<u32> (8 weights) when packed, vec4<f32> when K % 4 = 0, else scalars. */
export function vectorsPerRow(spec: FusedMatvecSpec): number {
  const packed = (spec.weights ?? 'f32') !== 'f32';
  return packed ? spec.k / 8 : spec.k % 4 === 0 ? spec.k / 4 : spec.k;
}

/**
 * Unroll factor (1–`cap`) of a lane's strided loop over `trips` strides: the one that wastes the fewest
 * masked strides, the largest on ties. The loads of one unrolled iteration are independent, so they
 * are in flight together (at batch 1 the kernel is bound by load latency, not bandwidth). On the H200,
 * unrolling by 4 took Llama-3.2-1B's down projection from 16.7 to 15.4 µs, while the paired gate/up
 * kernel (two weight loads a stride already) got slower unrolled (20.1 → 22.5 µs), so it keeps cap 1.
 */
export function unrollFor(trips: number, cap: number): number {
  let best = 1;
  for (let u = 2; u <= Math.min(cap, trips); u++) {
    const waste = Math.ceil(trips / u) * u - trips;
    if (waste <= Math.ceil(trips / best) * best - trips) best = u;
  }
  return best;
}

/** Output rows of a spec (siluMul pairs its two sources). */
export function matvecOutputs(spec: FusedMatvecSpec): number {
  return spec.epilogue === 'siluMul' ? spec.sources[0]! : spec.sources.reduce((a, b) => a + b, 0);
}

/** WGSL float literal (always with a decimal point or exponent). */
export function wgslFloat(value: number): string {
  const s = String(Math.fround(value));
  return /[.e]/.test(s) ? s : `${s}.0`;
}
