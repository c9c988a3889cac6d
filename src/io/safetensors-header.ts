/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON
 *   {"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 * then the data section; offsets are relative to the start of the data section.
 * Parsing validates everything that can be checked without reading tensor data, and is platform-neutral
 * (no Node APIs), so a browser loader can share it.
 */
import {
  DTYPE_BYTES,
  isSafetensorsDType,
  SAFETENSORS_DTYPES,
  type SafetensorsDType,
} from './safetensors-dtype.js';

/** Headers beyond this are rejected as corrupt (real ones are a few hundred KiB at most). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte range [begin, end) within the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface ParsedHeader {
  /** Tensors in data-section order. */
  readonly tensors: readonly TensorEntry[];
  readonly metadata: Readonly<Record<string, string>>;
}

/** Header length from the 8-byte prefix; `label` (the file) starts every error message. */
export function parseHeaderLength(label: string, prefix: Uint8Array, fileBytes: number): number {
  if (fileBytes < 8) {
    throw new Error(
      `${label}: file is ${fileBytes} bytes, shorter than the 8-byte header length (not a safetensors file?)`,
    );
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(
      `${label}: header length ${length} is absurd (limit ${MAX_HEADER_BYTES} bytes; not a safetensors file?)`,
    );
  }
  const headerBytes = Number(length);
  if (8 + headerBytes > fileBytes) {
    throw new Error(
      `${label}: header length ${headerBytes} runs past the end of the ${fileBytes}-byte file (truncated file?)`,
    );
  }
  return headerBytes;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Parses and validates the JSON header against a data section of `dataBytes` bytes. */
export function parseHeader(label: string, headerBytes: Uint8Array, dataBytes: number): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new Error(`${label}: header is not valid UTF-8 (not a safetensors file?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${label}: header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(json)) {
    throw new Error(`${label}: header must be a JSON object, got ${describeJson(json)}`);
  }
  const metadata = parseMetadata(label, json.__metadata__);
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name !== '__metadata__') tensors.push(parseEntry(label, name, value, dataBytes));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkNoOverlap(label, tensors);
  return { tensors, metadata };
}

function parseMetadata(label: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    throw new Error(`${label}: __metadata__ must be an object of strings, got ${describeJson(value)}`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      throw new Error(`${label}: __metadata__ value '${key}' must be a string, got ${describeJson(entry)}`);
    }
    metadata[key] = entry;
  }
  return metadata;
}

function parseEntry(label: string, name: string, value: unknown, dataBytes: number): TensorEntry {
  const where = `${label}: tensor '${name}'`;
  if (!isPlainObject(value))
    throw new Error(`${where}: header entry must be an object, got ${describeJson(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafetensorsDType(dtype)) {
    throw new Error(
      `${where} has unknown dtype ${describeJson(dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${where}: shape must be a list of non-negative integers, got ${describeJson(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw new Error(
      `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${describeJson(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataBytes) {
    throw new Error(
      `${where} data ends at byte ${end} but the file's data section has ${dataBytes} bytes (truncated file?)`,
    );
  }
  const elements = shape.reduce((n: number, d: number) => n * d, 1);
  const expected = elements * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new Error(
      `${where} has shape [${shape.join(', ')}] and dtype ${dtype}, so ${expected} bytes, ` +
        `but data_offsets [${begin}, ${end}] hold ${end - begin} bytes`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** `tensors` sorted by begin; empty tensors occupy no bytes and overlap nothing. */
function checkNoOverlap(label: string, tensors: readonly TensorEntry[]): void {
  let previous: TensorEntry | undefined;
  for (const t of tensors) {
    if (t.begin === t.end) continue;
    if (previous !== undefined && t.begin < previous.end) {
      throw new Error(
        `${label}: tensors '${previous.name}' (bytes ${previous.begin}..${previous.end}) and ` +
          `'${t.name}' (bytes ${t.begin}..${t.end}) overlap in the data section`,
      );
    }
    previous = t;
  }
}

export interface HeaderTensor {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

/**
 * The 8-byte length prefix plus the JSON header for tensors laid out back to back in the given order,
 * padded with spaces to a multiple of 8 bytes so the data section starts 8-aligned.
 * Keys are written in the given order (a JS object would move integer-like names first).
 */
export function encodeHeader(
  tensors: readonly HeaderTensor[],
  metadata?: Record<string, string>,
): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of tensors) {
    const entry = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(entry)}`);
    offset += t.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}
