/**
 * Writing safetensors files: the header first, then each tensor streamed to disk in turn (float
 * conversions go through a small reused chunk buffer), all atomically via a temporary file and rename.
 *
 * Layout: tensors are stored by element size, largest first, then by name (code-unit order), the order
 * Hugging Face's safetensors library uses; every tensor then starts at a multiple of its element size,
 * so zero-copy typed views over a loaded file are always aligned.
 */
import { endianness } from 'node:os';
import { writeAll, writeFileAtomic } from './atomic.js';
import { float32ArrayToBf16, float32ArrayToF16 } from './half.js';
import { DTYPE_BYTES, isSafetensorsDType, type SafetensorsDType } from './safetensors-dtype.js';
import { encodeHeader, type HeaderTensor } from './safetensors-header.js';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

/**
 * One tensor to write. `data` holds the values in row-major order, either as the dtype's own array
 * (Uint16Array of bit patterns for F16/BF16), or as a Uint8Array of the raw little-endian bytes, or as
 * values to convert: a Float32Array/Float64Array for any float dtype but FP8 (rounded to nearest even;
 * Float64 goes through float32), an Int32Array for I64. A function is called when the tensor's turn
 * comes, so a large model can be written one tensor at a time (e.g. as each is read back from a GPU).
 */
export interface TensorToWrite {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: TensorData | (() => TensorData);
}

const CHUNK_ELEMENTS = 1 << 18;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Can `data` (not raw bytes) be written as `dtype`, directly (true) or with conversion ('convert')? */
function encoding(dtype: SafetensorsDType, data: TensorData): 'bytes' | 'convert' | undefined {
  if (data instanceof Uint8Array) return 'bytes';
  const direct =
    (data instanceof Float32Array && dtype === 'F32') ||
    (data instanceof Float64Array && dtype === 'F64') ||
    (data instanceof Int32Array && dtype === 'I32') ||
    (data instanceof Uint32Array && dtype === 'U32') ||
    (data instanceof Int16Array && dtype === 'I16') ||
    (data instanceof Uint16Array && (dtype === 'U16' || dtype === 'F16' || dtype === 'BF16')) ||
    (data instanceof Int8Array && dtype === 'I8') ||
    (data instanceof BigInt64Array && dtype === 'I64') ||
    (data instanceof BigUint64Array && dtype === 'U64');
  if (direct) return 'bytes';
  const floatData = data instanceof Float32Array || data instanceof Float64Array;
  const floatTarget = dtype === 'F32' || dtype === 'F64' || dtype === 'F16' || dtype === 'BF16';
  if ((floatData && floatTarget) || (data instanceof Int32Array && dtype === 'I64')) return 'convert';
  return undefined;
}

function checkData(
  where: string,
  dtype: SafetensorsDType,
  shape: readonly number[],
  data: unknown,
): TensorData {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new Error(`${where}: data must be a typed array, got ${typeof data}`);
  }
  const array = data as TensorData;
  const how = encoding(dtype, array);
  if (how === undefined) {
    throw new Error(
      `${where} has dtype ${dtype} but its data is a ${array.constructor.name}; ` +
        'give the matching typed array, a Uint8Array of raw bytes, or float32/float64 values for a float dtype',
    );
  }
  const elements = elementCount(shape);
  if (array instanceof Uint8Array) {
    const expected = elements * DTYPE_BYTES[dtype];
    if (array.byteLength !== expected) {
      throw new Error(
        `${where} has shape [${shape.join(', ')}] and dtype ${dtype}, so ${expected} bytes, ` +
          `but its data has ${array.byteLength} bytes`,
      );
    }
  } else if (array.length !== elements) {
    throw new Error(
      `${where} has shape [${shape.join(', ')}] (${elements} elements) but its data has ${array.length} elements`,
    );
  }
  return array;
}

/** Streams the converted values of `data` as `dtype`, one chunk at a time. */
function writeConverted(fd: number, dtype: SafetensorsDType, data: TensorData): void {
  const n = data.length;
  const chunk = Math.min(n, CHUNK_ELEMENTS);
  const out = new ArrayBuffer(chunk * DTYPE_BYTES[dtype]);
  const f32 = data instanceof Float64Array && dtype !== 'F32' ? new Float32Array(chunk) : undefined;
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    let values = data.subarray(start, start + count);
    if (f32 !== undefined && dtype !== 'F64') {
      f32.set(values as Float64Array);
      values = f32.subarray(0, count);
    }
    if (dtype === 'F16') float32ArrayToF16(values as Float32Array, new Uint16Array(out, 0, count));
    else if (dtype === 'BF16') float32ArrayToBf16(values as Float32Array, new Uint16Array(out, 0, count));
    else if (dtype === 'F32') new Float32Array(out, 0, count).set(values as Float64Array);
    else if (dtype === 'F64') new Float64Array(out, 0, count).set(values as Float32Array);
    else {
      // I64 from Int32Array: little-endian (low, high) words, the high word being the sign extension.
      const words = new Int32Array(out, 0, 2 * count);
      const ints = values as Int32Array;
      for (let i = 0; i < count; i++) {
        words[2 * i] = ints[i]!;
        words[2 * i + 1] = ints[i]! >> 31;
      }
    }
    writeAll(fd, new Uint8Array(out, 0, count * DTYPE_BYTES[dtype]));
  }
}

interface PlannedTensor extends HeaderTensor {
  readonly data: TensorToWrite['data'];
}

/** Validates what can be checked before writing and orders tensors as stored. */
function plan(path: string, tensors: Record<string, TensorToWrite>): PlannedTensor[] {
  const planned: PlannedTensor[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    const where = `${path}: tensor '${name}'`;
    if (name === '__metadata__')
      throw new Error(`${path}: '__metadata__' is reserved and cannot name a tensor`);
    const { dtype, shape, data } = tensor;
    if (!isSafetensorsDType(dtype)) throw new Error(`${where} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(
        `${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`,
      );
    }
    if (typeof data !== 'function') checkData(where, dtype, shape, data);
    const byteLength = elementCount(shape) * DTYPE_BYTES[dtype];
    planned.push({ name, dtype, shape: [...shape], byteLength, data });
  }
  return planned.sort(
    (a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/**
 * Writes `tensors` to a safetensors file at `path`, replacing it atomically. `metadata` becomes the
 * header's `__metadata__` (transformers wants `{format: 'pt'}`; `writeCheckpoint` adds it).
 */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  if (endianness() !== 'LE') throw new Error(`${path}: safetensors writing needs a little-endian host`);
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== 'string') {
      throw new Error(`${path}: metadata value '${key}' must be a string, got ${JSON.stringify(value)}`);
    }
  }
  const planned = plan(path, tensors);
  const header = encodeHeader(planned, metadata);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, header);
    for (const t of planned) {
      const where = `${path}: tensor '${t.name}'`;
      const data = checkData(where, t.dtype, t.shape, typeof t.data === 'function' ? t.data() : t.data);
      if (encoding(t.dtype, data) === 'convert') writeConverted(fd, t.dtype, data);
      else writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  });
}

/** Bytes that `writeSafetensors` stores for one tensor (its data, not counting the header). */
export function tensorByteLength(tensor: Pick<TensorToWrite, 'dtype' | 'shape'>): number {
  return elementCount(tensor.shape) * DTYPE_BYTES[tensor.dtype];
}
