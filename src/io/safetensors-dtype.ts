/**
 * The element types of the safetensors format (https://github.com/huggingface/safetensors), their sizes,
 * and conversions of raw little-endian tensor bytes to float32 and int32 arrays.
 */
import { bf16ArrayToFloat32, f16ArrayToFloat32 } from './half.js';

export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F8_E4M3'
  | 'F8_E5M2'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

export const SAFETENSORS_DTYPES = Object.keys(DTYPE_BYTES) as SafetensorsDType[];

export function isSafetensorsDType(name: unknown): name is SafetensorsDType {
  return typeof name === 'string' && Object.hasOwn(DTYPE_BYTES, name);
}

export function isFloatDType(dtype: SafetensorsDType): boolean {
  return dtype[0] === 'F' || dtype === 'BF16';
}

/**
 * Float32 values of the 8-bit floats (OCP FP8). E4M3 ("fn" variant, bias 7) has no Inf and one NaN
 * pattern per sign (S.1111.111); E5M2 (bias 15) is the top byte of an f16.
 */
function fp8Table(dtype: 'F8_E4M3' | 'F8_E5M2'): Float32Array {
  const table = new Float32Array(256);
  const half = new Uint16Array(1);
  for (let b = 0; b < 256; b++) {
    if (dtype === 'F8_E5M2') {
      half[0] = b << 8;
      table[b] = f16ArrayToFloat32(half)[0]!;
      continue;
    }
    const sign = b & 0x80 ? -1 : 1;
    const exp = (b >>> 3) & 0xf;
    const mant = b & 0x7;
    if (exp === 0xf && mant === 0x7) table[b] = Number.NaN;
    else if (exp === 0) table[b] = sign * mant * 2 ** -9;
    else table[b] = sign * (1 + mant / 8) * 2 ** (exp - 7);
  }
  return table;
}

/**
 * Converts raw tensor bytes (little-endian, `bytes.byteOffset` aligned to the element size) to float32.
 * Integers beyond 2^24 and F64 values round to the nearest float32.
 */
export function bytesToFloat32(dtype: SafetensorsDType, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer, byteOffset, n).slice();
    case 'F16':
      return f16ArrayToFloat32(new Uint16Array(buffer, byteOffset, n));
    case 'BF16':
      return bf16ArrayToFloat32(new Uint16Array(buffer, byteOffset, n));
    case 'F64':
      return Float32Array.from(new Float64Array(buffer, byteOffset, n));
    case 'F8_E4M3':
    case 'F8_E5M2': {
      const table = fp8Table(dtype);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[bytes[i]!]!;
      return out;
    }
    case 'I64':
    case 'U64':
      return int64ToFloat32(dtype, new Int32Array(buffer, byteOffset, 2 * n));
    case 'I32':
      return Float32Array.from(new Int32Array(buffer, byteOffset, n));
    case 'U32':
      return Float32Array.from(new Uint32Array(buffer, byteOffset, n));
    case 'I16':
      return Float32Array.from(new Int16Array(buffer, byteOffset, n));
    case 'U16':
      return Float32Array.from(new Uint16Array(buffer, byteOffset, n));
    case 'I8':
      return Float32Array.from(new Int8Array(buffer, byteOffset, n));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(bytes);
  }
}

// 64-bit integers are read as (low, high) 32-bit word pairs: value = high * 2^32 + unsigned(low).
function int64ToFloat32(dtype: 'I64' | 'U64', words: Int32Array): Float32Array {
  const out = new Float32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const high = dtype === 'I64' ? words[2 * i + 1]! : words[2 * i + 1]! >>> 0;
    out[i] = high * 4294967296 + (words[2 * i]! >>> 0);
  }
  return out;
}

/**
 * Converts raw integer tensor bytes to int32. Throws (with `describe` naming the tensor) for float
 * dtypes and for 32/64-bit values outside the int32 range.
 */
export function bytesToInt32(dtype: SafetensorsDType, bytes: Uint8Array, describe: string): Int32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const { buffer, byteOffset } = bytes;
  const outOfRange = (i: number, value: number | bigint) =>
    new Error(`${describe}: element ${i} is ${value}, outside the int32 range`);
  switch (dtype) {
    case 'I32':
      return new Int32Array(buffer, byteOffset, n).slice();
    case 'U32': {
      const src = new Uint32Array(buffer, byteOffset, n);
      for (let i = 0; i < n; i++) if (src[i]! > 0x7fffffff) throw outOfRange(i, src[i]!);
      return new Int32Array(src);
    }
    case 'I64':
    case 'U64': {
      const words = new Int32Array(buffer, byteOffset, 2 * n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const low = words[2 * i]!;
        const high = words[2 * i + 1]!;
        // In range exactly when the high word is the sign extension of the low word.
        if (high !== low >> 31 || (dtype === 'U64' && low < 0)) {
          const value =
            dtype === 'I64'
              ? new BigInt64Array(buffer, byteOffset, n)[i]!
              : new BigUint64Array(buffer, byteOffset, n)[i]!;
          throw outOfRange(i, value);
        }
        out[i] = low;
      }
      return out;
    }
    case 'I16':
      return Int32Array.from(new Int16Array(buffer, byteOffset, n));
    case 'U16':
      return Int32Array.from(new Uint16Array(buffer, byteOffset, n));
    case 'I8':
      return Int32Array.from(new Int8Array(buffer, byteOffset, n));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(bytes);
    default:
      throw new Error(`${describe}: dtype ${dtype} is a float type; readInt32 needs an integer dtype`);
  }
}
