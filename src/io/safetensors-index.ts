/**
 * What every safetensors reader shares, without any I/O: the reader interface and the index of a
 * parsed header (names, dtypes, shapes, byte ranges). Files and in-memory buffers extend it.
 */
import type { SafetensorsDType } from './safetensors-dtype.js';
import type { ParsedHeader, TensorEntry } from './safetensors-header.js';

export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

export interface RawTensor extends TensorInfo {
  /** The tensor's little-endian bytes, at offset 0 of their own ArrayBuffer (so any typed view fits). */
  readonly bytes: Uint8Array;
}

/** What a single file and a sharded checkpoint both offer. */
export interface TensorReader {
  /** The `__metadata__` string map (for a sharded checkpoint, the first shard's). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor names, in storage order. */
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  readRaw(name: string): RawTensor;
  /** Values converted to float32 from any dtype (F64 and large integers round). */
  readFloat32(name: string): Float32Array;
  /** Values of an integer or BOOL tensor as int32 (throws for floats and out-of-range values). */
  readInt32(name: string): Int32Array;
  close(): void;
}

/** A parsed header's tensor index; subclasses supply the bytes. */
export abstract class IndexedTensors {
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries: Map<string, TensorEntry>;

  constructor(
    /** Names the source in errors (a path or a URL). */
    readonly label: string,
    parsed: ParsedHeader,
  ) {
    this.metadata = parsed.metadata;
    this.entries = new Map(parsed.tensors.map((t) => [t.name, t]));
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const { dtype, shape, begin, end } = this.entry(name);
    return { dtype, shape, byteLength: end - begin };
  }

  protected entry(name: string): TensorEntry {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new Error(`${this.label}: no tensor named '${name}'`);
    return entry;
  }
}
