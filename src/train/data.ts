/**
 * Training data: documents from text files, folders and JSONL, tokenised into one id stream with EOS
 * after every document, cut into [B, T+1] windows (inputs are the first T ids, targets the last T).
 *
 * Windows do not overlap: window k is ids[k·T … k·T + T] (sharing only its last id with the next
 * window's first). Each epoch visits every window once in an order shuffled by an Rng seeded from
 * (seed, epoch); the position (epoch, cursor) is all a checkpoint needs to continue exactly.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Rng } from '../tensor/random.js';

/** What the data pipeline needs of a tokenizer. */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
}

const TEXT_EXTENSIONS = new Set(['.txt', '.md']);

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (TEXT_EXTENSIONS.has(extname(name).toLowerCase())) out.push(path);
  }
  return out;
}

/** Documents of a JSONL file: each line an object with a string `text` field (blank lines skipped). */
export function readJsonlTexts(path: string, field = 'text'): string[] {
  const docs: string[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (e) {
        throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const text = (record as Record<string, unknown> | null)?.[field];
      if (typeof text !== 'string')
        throw new Error(`${path}:${i + 1}: expected an object with a string "${field}" field`);
      docs.push(text);
    });
  return docs;
}

/**
 * Documents from paths: a .jsonl file gives one document per line (its `text`); any other file is one
 * document; a folder gives its *.txt and *.md files, recursively, in sorted order.
 */
export function readDocuments(paths: readonly string[]): string[] {
  const docs: string[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new Error(`training data '${path}' does not exist`);
    }
    if (isDir) {
      const files = filesUnder(path);
      if (files.length === 0) throw new Error(`folder '${path}' holds no .txt or .md files`);
      for (const file of files) docs.push(readFileSync(file, 'utf8'));
    } else if (extname(path).toLowerCase() === '.jsonl') {
      docs.push(...readJsonlTexts(path));
    } else {
      docs.push(readFileSync(path, 'utf8'));
    }
  }
  return docs.filter((d) => d.length > 0);
}

/** One id stream: each document's ids (no special tokens added) followed by `eosId`. */
export function tokenizeDocuments(
  docs: readonly string[],
  tokenizer: TextEncoder,
  eosId: number,
): Int32Array {
  const parts: number[][] = [];
  let total = 0;
  for (const doc of docs) {
    const ids = tokenizer.encode(doc, { addSpecialTokens: false });
    ids.push(eosId);
    parts.push(ids);
    total += ids.length;
  }
  const stream = new Int32Array(total);
  let offset = 0;
  for (const ids of parts) {
    stream.set(ids, offset);
    offset += ids.length;
  }
  return stream;
}

export interface Batch {
  /** [B, T] input ids and [B, T] next-token targets, row-major. */
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  seqLen: number;
}

/** Where a batcher is: the epoch and the number of windows of it already handed out. */
export interface DataPosition {
  epoch: number;
  cursor: number;
}

/** Number of non-overlapping [T+1] windows in a stream of n ids. */
export function windowCount(n: number, seqLen: number): number {
  return Math.max(0, Math.floor((n - 1) / seqLen));
}

/** The [B, T] inputs and targets of windows `indices` of `ids`. */
export function gatherWindows(ids: Int32Array, indices: readonly number[], seqLen: number): Batch {
  const inputs = new Int32Array(indices.length * seqLen);
  const targets = new Int32Array(indices.length * seqLen);
  indices.forEach((w, row) => {
    const start = w * seqLen;
    inputs.set(ids.subarray(start, start + seqLen), row * seqLen);
    targets.set(ids.subarray(start + 1, start + seqLen + 1), row * seqLen);
  });
  return { inputs, targets, batchSize: indices.length, seqLen };
}

/** Seeded, resumable batches of shuffled windows. */
export class Batcher {
  readonly windows: number;
  private position: DataPosition = { epoch: 0, cursor: 0 };
  private order: number[] | null = null;

  constructor(
    readonly ids: Int32Array,
    readonly batchSize: number,
    readonly seqLen: number,
    readonly seed: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(seqLen) || seqLen < 1)
      throw new Error(`sequence length must be a positive integer, got ${seqLen}`);
    this.windows = windowCount(ids.length, seqLen);
    if (this.windows === 0) {
      throw new Error(
        `the training data has ${ids.length} tokens, too few for one window of ${seqLen + 1} (--seq-len ${seqLen} + 1)`,
      );
    }
  }

  /** The window order of an epoch: a permutation drawn from Rng(seed, epoch). */
  epochOrder(epoch: number): number[] {
    const rng = new Rng((this.seed * 1_000_003 + epoch * 7919) >>> 0);
    return rng.shuffle(Array.from({ length: this.windows }, (_, i) => i));
  }

  get state(): DataPosition {
    return { ...this.position };
  }

  /** The RNG state the current epoch's order was drawn with (saved for inspection and tests). */
  get rngState(): number[] {
    return new Rng((this.seed * 1_000_003 + this.position.epoch * 7919) >>> 0).getState();
  }

  setState(position: DataPosition): void {
    if (!(Number.isInteger(position.epoch) && position.epoch >= 0))
      throw new Error(`data position epoch must be a non-negative integer, got ${position.epoch}`);
    if (!(Number.isInteger(position.cursor) && position.cursor >= 0 && position.cursor <= this.windows)) {
      throw new Error(
        `data position cursor ${position.cursor} is outside [0, ${this.windows}] (was the data changed since the checkpoint?)`,
      );
    }
    this.position = { ...position };
    this.order = null;
  }

  /** The next batch; epochs roll over mid-batch when the windows run out. */
  next(): Batch {
    const indices: number[] = [];
    while (indices.length < this.batchSize) {
      if (this.position.cursor === this.windows) {
        this.position = { epoch: this.position.epoch + 1, cursor: 0 };
        this.order = null;
      }
      this.order ??= this.epochOrder(this.position.epoch);
      indices.push(this.order[this.position.cursor]!);
      this.position.cursor++;
    }
    return gatherWindows(this.ids, indices, this.seqLen);
  }
}

/** Batches of consecutive windows from the start of a stream, at most `maxBatches` (evaluation). */
export function evalBatches(ids: Int32Array, batchSize: number, seqLen: number, maxBatches: number): Batch[] {
  const windows = Math.min(windowCount(ids.length, seqLen), maxBatches * batchSize);
  const batches: Batch[] = [];
  for (let start = 0; start < windows; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, windows - start) }, (_, i) => start + i);
    batches.push(gatherWindows(ids, indices, seqLen));
  }
  return batches;
}
