/**
 * Hugging Face checkpoint layout: one `model.safetensors`, or shards `model-00001-of-00003.safetensors`
 * ... listed by `model.safetensors.index.json` ({"metadata": {"total_size": bytes}, "weight_map":
 * {tensor name: shard file}}). A checkpoint opens as one reader over all its files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeAll, writeFileAtomic } from './atomic.js';
import {
  openSafetensors,
  type RawTensor,
  type SafetensorsFile,
  type TensorInfo,
  type TensorReader,
} from './safetensors.js';
import { type TensorToWrite, tensorByteLength, writeSafetensors } from './safetensors-write.js';

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';
/** transformers' default `max_shard_size` ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** One reader over the shards of a sharded checkpoint; tensors not listed in the index are ignored. */
export class ShardedCheckpoint implements TensorReader {
  readonly indexPath: string;
  readonly shards: readonly SafetensorsFile[];
  private readonly owner: Map<string, SafetensorsFile>;

  constructor(indexPath: string, shards: readonly SafetensorsFile[], owner: Map<string, SafetensorsFile>) {
    this.indexPath = indexPath;
    this.shards = shards;
    this.owner = owner;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.shards[0]?.metadata ?? {};
  }

  names(): string[] {
    return this.shards.flatMap((shard) => shard.names().filter((name) => this.owner.get(name) === shard));
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    return this.shardOf(name).info(name);
  }

  readRaw(name: string): RawTensor {
    return this.shardOf(name).readRaw(name);
  }

  readFloat32(name: string): Float32Array {
    return this.shardOf(name).readFloat32(name);
  }

  readInt32(name: string): Int32Array {
    return this.shardOf(name).readInt32(name);
  }

  close(): void {
    for (const shard of this.shards) shard.close();
  }

  private shardOf(name: string): SafetensorsFile {
    const shard = this.owner.get(name);
    if (shard === undefined) throw new Error(`${this.indexPath}: no tensor named '${name}'`);
    return shard;
  }
}

function parseWeightMap(indexPath: string): Map<string, string> {
  let json: any;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new Error(`${indexPath}: cannot read the index (${(err as Error).message})`);
  }
  const weightMap = json?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${indexPath}: "weight_map" must be an object mapping tensor names to shard files`);
  }
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || /[/\\]/.test(file)) {
      throw new Error(
        `${indexPath}: tensor '${name}' maps to ${JSON.stringify(file)}, which is not a file name in the directory`,
      );
    }
    map.set(name, file);
  }
  return map;
}

function openSharded(dir: string): ShardedCheckpoint {
  const indexPath = join(dir, SAFETENSORS_INDEX_FILE);
  const weightMap = parseWeightMap(indexPath);
  const files = [...new Set(weightMap.values())].sort();
  const shards: SafetensorsFile[] = [];
  try {
    for (const file of files) {
      const path = join(dir, file);
      if (!existsSync(path)) {
        const example = [...weightMap].find(([, f]) => f === file)![0];
        throw new Error(`${indexPath}: shard '${file}' (holding '${example}') does not exist in ${dir}`);
      }
      shards.push(openSafetensors(path));
    }
    const byFile = new Map(files.map((file, i) => [file, shards[i]!]));
    const owner = new Map<string, SafetensorsFile>();
    for (const [name, file] of weightMap) {
      const shard = byFile.get(file)!;
      if (!shard.has(name)) {
        throw new Error(
          `${indexPath}: tensor '${name}' is listed in shard '${file}', but that file does not contain it`,
        );
      }
      owner.set(name, shard);
    }
    return new ShardedCheckpoint(indexPath, shards, owner);
  } catch (err) {
    for (const shard of shards) shard.close();
    throw err;
  }
}

/**
 * Opens a checkpoint: a .safetensors file, or a directory holding `model.safetensors` or a sharded
 * checkpoint with `model.safetensors.index.json`. When a directory has both, `model.safetensors` wins,
 * as in transformers. Close the reader when done.
 */
export function openCheckpoint(path: string): TensorReader {
  if (!existsSync(path)) throw new Error(`${path}: no such file or directory`);
  if (!statSync(path).isDirectory()) return openSafetensors(path);
  if (existsSync(join(path, SAFETENSORS_FILE))) return openSafetensors(join(path, SAFETENSORS_FILE));
  if (existsSync(join(path, SAFETENSORS_INDEX_FILE))) return openSharded(path);
  const others = readdirSync(path).filter((f) => f.endsWith('.safetensors'));
  const found = others.length > 0 ? ` (it has ${others.join(', ')})` : '';
  throw new Error(`${path}: no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE} in this directory${found}`);
}

export interface WriteCheckpointOptions {
  /** Largest shard, in tensor bytes; a larger single tensor gets a shard of its own. Default 5e9. */
  readonly maxShardBytes?: number;
  /** Added to every file's `__metadata__`, after `{format: 'pt'}`. */
  readonly metadata?: Record<string, string>;
}

/** Splits tensors, in the given order, greedily into shards of at most `maxBytes` (as transformers does). */
function planShards(tensors: Record<string, TensorToWrite>, maxBytes: number): string[][] {
  const shards: string[][] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const bytes = tensorByteLength(tensor);
    if (current.length > 0 && currentBytes + bytes > maxBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(name);
    currentBytes += bytes;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

function indexJson(totalBytes: number, weightMap: [string, string][]): string {
  // Written by hand so the keys keep sorted order (a JS object would move integer-like names first).
  const entries = weightMap
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, file]) => `    ${JSON.stringify(name)}: ${JSON.stringify(file)}`);
  return `{\n  "metadata": {\n    "total_size": ${totalBytes}\n  },\n  "weight_map": {\n${entries.join(',\n')}\n  }\n}\n`;
}

/**
 * Writes tensors as a Hugging Face checkpoint in `dir` (created if needed): `model.safetensors` when
 * everything fits in one shard, else numbered shards plus `model.safetensors.index.json`. Shards follow
 * the insertion order of `tensors` (a model's parameter order, like a PyTorch state dict). Each file is
 * replaced atomically and stale files of an earlier checkpoint are removed afterwards; for a save that
 * is atomic as a whole, write into a fresh directory and rename it. Returns the files written.
 */
export function writeCheckpoint(
  dir: string,
  tensors: Record<string, TensorToWrite>,
  options: WriteCheckpointOptions = {},
): string[] {
  const maxBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(maxBytes > 0)) throw new Error(`writeCheckpoint: maxShardBytes must be positive, got ${maxBytes}`);
  const metadata = { format: 'pt', ...options.metadata };
  mkdirSync(dir, { recursive: true });
  const shards = planShards(tensors, maxBytes);
  let written: string[];
  if (shards.length === 1) {
    writeSafetensors(join(dir, SAFETENSORS_FILE), tensors, metadata);
    written = [SAFETENSORS_FILE];
  } else {
    written = shards.map((_, i) => shardFileName(i, shards.length));
    const weightMap: [string, string][] = [];
    let totalBytes = 0;
    shards.forEach((names, i) => {
      const subset = Object.fromEntries(names.map((name) => [name, tensors[name]!]));
      writeSafetensors(join(dir, written[i]!), subset, metadata);
      for (const name of names) {
        weightMap.push([name, written[i]!]);
        totalBytes += tensorByteLength(tensors[name]!);
      }
    });
    const text = indexJson(totalBytes, weightMap);
    writeFileAtomic(join(dir, SAFETENSORS_INDEX_FILE), (fd) => writeAll(fd, new TextEncoder().encode(text)));
    written.push(SAFETENSORS_INDEX_FILE);
  }
  removeStale(dir, written);
  return written;
}

function removeStale(dir: string, keep: readonly string[]): void {
  for (const file of readdirSync(dir)) {
    const ours = file === SAFETENSORS_FILE || file === SAFETENSORS_INDEX_FILE || SHARD_NAME.test(file);
    if (ours && !keep.includes(file)) unlinkSync(join(dir, file));
  }
}
