/**
 * safetensors from bytes in memory (a fetched ArrayBuffer in a browser): the same header validation
 * and conversions as the file reader, no file system. Also a reader over several shards.
 */
import { bytesToFloat32, bytesToInt32, DTYPE_BYTES } from './safetensors-dtype.js';
import { parseHeader, parseHeaderLength } from './safetensors-header.js';
import { IndexedTensors, type RawTensor, type TensorInfo, type TensorReader } from './safetensors-index.js';

export class SafetensorsBuffer extends IndexedTensors implements TensorReader {
  private readonly bytes: Uint8Array;
  private readonly dataStart: number;

  constructor(data: ArrayBuffer | Uint8Array, label = 'safetensors buffer') {
    // A plain Uint8Array view (a Node Buffer's slice() would share memory instead of copying).
    const bytes =
      data instanceof Uint8Array
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
    const headerBytes = parseHeaderLength(label, bytes.subarray(0, 8), bytes.byteLength);
    super(label, parseHeader(label, bytes.subarray(8, 8 + headerBytes), bytes.byteLength - 8 - headerBytes));
    this.bytes = bytes;
    this.dataStart = 8 + headerBytes;
  }

  /** A copy of the tensor's bytes (aligned at offset 0 of its own buffer). */
  readRaw(name: string): RawTensor {
    const entry = this.entry(name);
    const bytes = this.bytes.slice(this.dataStart + entry.begin, this.dataStart + entry.end);
    return { dtype: entry.dtype, shape: entry.shape, byteLength: bytes.byteLength, bytes };
  }

  readFloat32(name: string): Float32Array {
    const entry = this.entry(name);
    if (entry.dtype === 'F32')
      return new Float32Array(
        this.readRaw(name).bytes.buffer,
        0,
        (entry.end - entry.begin) / DTYPE_BYTES.F32,
      );
    return bytesToFloat32(entry.dtype, this.readRaw(name).bytes);
  }

  readInt32(name: string): Int32Array {
    return bytesToInt32(this.entry(name).dtype, this.readRaw(name).bytes, `${this.label}: tensor '${name}'`);
  }

  close(): void {}
}

/** Several readers seen as one (the shards of a checkpoint); a tensor name may appear in only one. */
export class ShardedReader implements TensorReader {
  readonly metadata: Readonly<Record<string, string>> = {};
  private readonly owner = new Map<string, TensorReader>();

  constructor(private readonly shards: readonly TensorReader[]) {
    for (const shard of shards) {
      for (const name of shard.names()) {
        if (this.owner.has(name)) throw new Error(`tensor '${name}' appears in more than one shard`);
        this.owner.set(name, shard);
      }
    }
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    return this.shard(name).info(name);
  }

  readRaw(name: string): RawTensor {
    return this.shard(name).readRaw(name);
  }

  readFloat32(name: string): Float32Array {
    return this.shard(name).readFloat32(name);
  }

  readInt32(name: string): Int32Array {
    return this.shard(name).readInt32(name);
  }

  close(): void {
    for (const shard of this.shards) shard.close();
  }

  private shard(name: string): TensorReader {
    const shard = this.owner.get(name);
    if (!shard) throw new Error(`no shard holds tensor '${name}'`);
    return shard;
  }
}
