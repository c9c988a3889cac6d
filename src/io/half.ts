/**
 * IEEE 754 binary16 (f16) and bfloat16 (bf16) conversions to and from float32.
 *
 * 16-bit values travel as their raw bit patterns (numbers 0..65535, or a Uint16Array). Widening to
 * float32 is exact for both formats. Narrowing rounds to nearest, ties to even (what PyTorch, NumPy and
 * the hardware do); overflow gives ±Inf, underflow gives f16 subnormals or ±0, -0 keeps its sign, and a
 * NaN stays a (quiet) NaN with its sign and top payload bits.
 *
 * Layouts:  f32 = s eeeeeeee mmm…(23)   f16 = s eeeee mmmmmmmmmm   bf16 = s eeeeeeee mmmmmmm
 * bf16 is the top half of an f32, so its conversions are a shift plus rounding; f16 has a 5-bit exponent
 * (bias 15, largest finite 65504, smallest subnormal 2^-24) and needs re-biasing.
 */

// Scratch views over one 4-byte buffer, for scalar bit casts between float32 and uint32.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function float32ToBits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

export function bitsToFloat32(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

/** f16 bits of the float32 bit pattern `x` (an unsigned 32-bit integer), rounded to nearest even. */
function f16BitsFromF32Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top 10 payload bits and gets the quiet bit, so it cannot become Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // re-biased exponent
  if (e >= 31) return sign | 0x7c00; // too large for f16: Inf
  if (e <= 0) {
    // f16 subnormal (or zero): the value is m * 2^-24 with m = significand >> (14 - e).
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal: rounds to ±0
    const significand = mant | 0x800000;
    let m = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    // m === 0x400 here is the smallest normal: the carry lands in the exponent field by itself.
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent; past 65504 it lands exactly on Inf (0x7c00).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

function f32BitsFromF16Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf or NaN (payload kept)
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal f16: normalize; the value is mant * 2^-24, and every f16 subnormal is an f32 normal.
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

function bf16BitsFromF32Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff; // NaN: quiet, keep sign
  // Round to nearest even on the low 16 bits; a carry into the exponent gives Inf past the max.
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function float32ToF16(x: number): number {
  return f16BitsFromF32Bits(float32ToBits(x));
}

export function f16ToFloat32(bits: number): number {
  return bitsToFloat32(f32BitsFromF16Bits(bits & 0xffff));
}

export function float32ToBf16(x: number): number {
  return bf16BitsFromF32Bits(float32ToBits(x));
}

export function bf16ToFloat32(bits: number): number {
  return bitsToFloat32((bits & 0xffff) << 16);
}

// f16 -> f32 through a 65536-entry table of float32 bit patterns (256 KiB), built on first use.
let f16Table: Uint32Array | undefined;
function f16ToF32BitsTable(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f32BitsFromF16Bits(h);
  }
  return f16Table;
}

function checkLengths(what: string, inLength: number, outLength: number): void {
  if (inLength !== outLength) {
    throw new Error(`${what}: input has ${inLength} elements but output has ${outLength}`);
  }
}

/** Widens f16 bit patterns to float32 (exact). */
export function f16ArrayToFloat32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  checkLengths('f16ArrayToFloat32', src.length, out.length);
  const table = f16ToF32BitsTable();
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) outBits[i] = table[src[i]!]!;
  return out;
}

/** Widens bf16 bit patterns to float32 (exact). */
export function bf16ArrayToFloat32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  checkLengths('bf16ArrayToFloat32', src.length, out.length);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) outBits[i] = src[i]! << 16;
  return out;
}

/** Narrows float32 to f16 bit patterns, rounding to nearest even. */
export function float32ArrayToF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  checkLengths('float32ArrayToF16', src.length, out.length);
  const srcBits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16BitsFromF32Bits(srcBits[i]!);
  return out;
}

/** Narrows float32 to bf16 bit patterns, rounding to nearest even. */
export function float32ArrayToBf16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  checkLengths('float32ArrayToBf16', src.length, out.length);
  const srcBits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = bf16BitsFromF32Bits(srcBits[i]!);
  return out;
}
