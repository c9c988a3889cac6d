/**
 * 16-bit weight storage for the planned decode's matvecs: two values per u32 (element 2i in the low
 * half, 2i+1 in the high half), as IEEE f16 or bfloat16. Conversion happens on the host with
 * round-to-nearest-even, so a reference can round its weights identically (`roundToHalf`); the kernels
 * unpack to f32 (`unpack2x16float`, or a 16-bit shift for bf16) and accumulate in f32.
 */

export type WeightFormat = 'f32' | 'f16' | 'bf16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `value` (round to nearest even; overflow to ±inf; subnormals kept). */
export function f16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry rolls into the exponent
  return sign | half;
}

export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** bfloat16 bits of `value` (the high half of its f32 bits, rounded to nearest even). */
export function bf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16Value(bits: number): number {
  u32[0] = bits << 16;
  return f32[0]!;
}

/** `values` rounded through the 16-bit format (what the kernels see), as float32. */
export function roundToHalf(values: Float32Array, format: 'f16' | 'bf16'): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = format === 'f16' ? f16Value(f16Bits(values[i]!)) : bf16Value(bf16Bits(values[i]!));
  }
  return out;
}

/** Packs an even number of values two per u32 (low half first). */
export function packHalves(values: Float32Array, format: 'f16' | 'bf16'): Uint32Array {
  if (values.length % 2 !== 0) throw new Error('16-bit packing needs an even number of values');
  const bits = format === 'f16' ? f16Bits : bf16Bits;
  const out = new Uint32Array(values.length / 2);
  for (let i = 0; i < out.length; i++)
    out[i] = (bits(values[2 * i]!) | (bits(values[2 * i + 1]!) << 16)) >>> 0;
  return out;
}

/** WGSL: the two f32 values of one packed u32. */
export function unpackWGSL(format: 'f16' | 'bf16'): string {
  return format === 'f16'
    ? 'fn unpack2(u: u32) -> vec2<f32> { return unpack2x16float(u); }'
    : 'fn unpack2(u: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u)); }';
}

/** WGSL: unpack2 and dotPacked(w, x0, x1) = the dot of 8 packed 16-bit weights with two vec4 inputs. */
export function packedDotWGSL(format: 'f16' | 'bf16'): string {
  return `${unpackWGSL(format)}
fn dotPacked(w: vec4<u32>, x0: vec4<f32>, x1: vec4<f32>) -> f32 {
  return dot(vec4<f32>(unpack2(w.x), unpack2(w.y)), x0) + dot(vec4<f32>(unpack2(w.z), unpack2(w.w)), x1);
}`;
}
