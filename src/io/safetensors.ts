/**
 * Reading safetensors files from disk without loading them whole: opening reads and validates only the
 * header; each tensor is then read on demand with one positioned read of its byte range into a fresh,
 * aligned buffer. Files are little-endian, as is every platform Node runs on in practice; a big-endian
 * host is refused rather than misread.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { bf16ArrayToFloat32, f16ArrayToFloat32 } from './half.js';
import { bytesToFloat32, bytesToInt32, DTYPE_BYTES } from './safetensors-dtype.js';
import { parseHeader, parseHeaderLength, type TensorEntry } from './safetensors-header.js';
import { IndexedTensors, type RawTensor, type TensorReader } from './safetensors-index.js';

export type { RawTensor, TensorInfo, TensorReader } from './safetensors-index.js';

/** Reads exactly `out.byteLength` bytes at `position`, looping over short reads. */
function readExactly(fd: number, out: Uint8Array, position: number, what: () => string): void {
  let done = 0;
  while (done < out.byteLength) {
    const n = readSync(fd, out, done, out.byteLength - done, position + done);
    if (n === 0) throw new Error(`${what()}: file ended early (was it truncated after opening?)`);
    done += n;
  }
}

export class SafetensorsFile extends IndexedTensors implements TensorReader {
  readonly path: string;
  private fd: number | undefined;
  private readonly dataStart: number;

  /** Prefer `openSafetensors(path)`. Takes ownership of `fd`. */
  constructor(path: string, fd: number) {
    const fileBytes = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (fileBytes >= 8) readExactly(fd, prefix, 0, () => path);
    const headerBytes = parseHeaderLength(path, prefix, fileBytes);
    const header = new Uint8Array(headerBytes);
    readExactly(fd, header, 8, () => path);
    super(path, parseHeader(path, header, fileBytes - 8 - headerBytes));
    this.path = path;
    this.fd = fd;
    this.dataStart = 8 + headerBytes;
  }

  readRaw(name: string): RawTensor {
    const entry = this.entry(name);
    const bytes = new Uint8Array(entry.end - entry.begin);
    this.readInto(entry, bytes);
    return { dtype: entry.dtype, shape: entry.shape, byteLength: bytes.byteLength, bytes };
  }

  readFloat32(name: string): Float32Array {
    const entry = this.entry(name);
    const count = (entry.end - entry.begin) / DTYPE_BYTES[entry.dtype];
    if (entry.dtype === 'F32') {
      const out = new Float32Array(count);
      this.readInto(entry, new Uint8Array(out.buffer));
      return out;
    }
    if (entry.dtype === 'F16' || entry.dtype === 'BF16') {
      // Read the 16-bit values into the upper half of the output and widen in place, front to back:
      // output element i (bytes 4i..4i+3) only overwrites inputs j <= i, which are already consumed.
      const out = new Float32Array(count);
      const halves = new Uint16Array(out.buffer, 2 * count, count);
      this.readInto(entry, new Uint8Array(out.buffer, 2 * count, 2 * count));
      return entry.dtype === 'F16' ? f16ArrayToFloat32(halves, out) : bf16ArrayToFloat32(halves, out);
    }
    return bytesToFloat32(entry.dtype, this.readRaw(name).bytes);
  }

  readInt32(name: string): Int32Array {
    const entry = this.entry(name);
    if (entry.dtype === 'I32') {
      const out = new Int32Array((entry.end - entry.begin) / 4);
      this.readInto(entry, new Uint8Array(out.buffer));
      return out;
    }
    return bytesToInt32(entry.dtype, this.readRaw(name).bytes, `${this.path}: tensor '${name}'`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private readInto(entry: TensorEntry, out: Uint8Array): void {
    if (this.fd === undefined)
      throw new Error(`${this.path}: cannot read tensor '${entry.name}', file is closed`);
    const fd = this.fd;
    readExactly(fd, out, this.dataStart + entry.begin, () => `${this.path}: tensor '${entry.name}'`);
  }
}

/** Opens a .safetensors file and validates its header; close it when done. */
export function openSafetensors(path: string): SafetensorsFile {
  if (endianness() !== 'LE') throw new Error(`${path}: safetensors reading needs a little-endian host`);
  const fd = openSync(path, 'r');
  try {
    return new SafetensorsFile(path, fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
