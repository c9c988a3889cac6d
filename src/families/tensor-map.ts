/**
 * How a family's checkpoint tensors relate to our parameter paths, in one description used both ways.
 * Each rule says: the Hugging Face tensor `hf` (shape `hfShape`, stored transposed when `transpose`, as
 * GPT-2's Conv1D [in, out]) is the concatenation along its first axis of row blocks of our tensors.
 * A plain rename is one block covering one tensor; Phi-3's qkv_proj is three; GPT-NeoX's per-head
 * interleaved query_key_value is 3·H; StableLM's per-head norms are H rules of one row each.
 */
import type { ModelConfig } from '../config/model-config.js';
import { type ParamSpec, parameterSpecs } from '../model/params.js';

export interface RowBlock {
  /** Our parameter path. */
  path: string;
  /** First row (index along our tensor's first axis). */
  start: number;
  rows: number;
}

export interface TensorRule {
  hf: string;
  hfShape: number[];
  transpose: boolean;
  blocks: RowBlock[];
}

function rowSize(shape: readonly number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

export class RuleBuilder {
  readonly specs: Map<string, ParamSpec>;
  readonly rules: TensorRule[] = [];
  private readonly covered = new Set<string>();

  constructor(readonly config: ModelConfig) {
    this.specs = new Map(parameterSpecs(config).map((s) => [s.path, s]));
  }

  spec(path: string): ParamSpec {
    const s = this.specs.get(path);
    if (!s) throw new Error(`internal: the config implies no parameter '${path}'`);
    return s;
  }

  /** `hf` is our tensor `path` (transposed when `transpose`). */
  rename(path: string, hf: string, transpose = false): this {
    const shape = this.spec(path).shape;
    return this.fused(hf, [path], transpose, transpose ? [...shape].reverse() : [...shape]);
  }

  /** `hf` = concatenation of whole tensors `paths` along the first axis (after transposing back). */
  fused(hf: string, paths: string[], transpose = false, hfShape?: number[]): this {
    return this.blocks(
      hf,
      paths.map((path) => ({ path, start: 0, rows: this.spec(path).shape[0]! })),
      transpose,
      hfShape,
    );
  }

  /** `hf` = concatenation of arbitrary row blocks. */
  blocks(hf: string, blocks: RowBlock[], transpose = false, hfShape?: number[]): this {
    const first = this.spec(blocks[0]!.path).shape;
    const rows = blocks.reduce((n, b) => n + b.rows, 0);
    const natural = [rows, ...first.slice(1)];
    const shape = hfShape ?? (transpose ? [...natural].reverse() : natural);
    for (const b of blocks) this.covered.add(b.path);
    this.rules.push({ hf, hfShape: shape, transpose, blocks });
    return this;
  }

  /** Every parameter not yet covered, renamed by `name` (null: leave it for a later rule). */
  renameRest(name: (path: string) => string | null): this {
    for (const path of this.specs.keys()) {
      if (this.covered.has(path)) continue;
      const hf = name(path);
      if (hf !== null) this.rename(path, hf);
    }
    return this;
  }

  /** The rules, after checking that they cover every parameter exactly. */
  build(): TensorRule[] {
    const rowsCovered = new Map<string, number>();
    for (const rule of this.rules) {
      for (const b of rule.blocks) rowsCovered.set(b.path, (rowsCovered.get(b.path) ?? 0) + b.rows);
    }
    for (const [path, spec] of this.specs) {
      const rows = rowsCovered.get(path) ?? 0;
      if (rows !== spec.shape[0]) {
        throw new Error(`internal: tensor rules cover ${rows} of ${spec.shape[0]} rows of '${path}'`);
      }
    }
    return this.rules;
  }
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Scatters one checkpoint tensor's values into our tensors' buffers. */
export function scatterRule(
  rule: TensorRule,
  data: Float32Array,
  buffers: Map<string, Float32Array>,
  specs: Map<string, ParamSpec>,
): void {
  // HF [in, out] -> our [out, in].
  const values = rule.transpose ? transpose2d(data, rule.hfShape[0]!, rule.hfShape[1]!) : data;
  let offset = 0;
  for (const b of rule.blocks) {
    const size = rowSize(specs.get(b.path)!.shape);
    const n = b.rows * size;
    buffers.get(b.path)!.set(values.subarray(offset, offset + n), b.start * size);
    offset += n;
  }
}

/** Gathers one checkpoint tensor from our tensors' values. */
export function gatherRule(
  rule: TensorRule,
  values: (path: string) => ArrayLike<number>,
  specs: Map<string, ParamSpec>,
): Float32Array {
  const total = rule.hfShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(total);
  let offset = 0;
  for (const b of rule.blocks) {
    const size = rowSize(specs.get(b.path)!.shape);
    const src = values(b.path);
    const begin = b.start * size;
    if (ArrayBuffer.isView(src))
      out.set((src as Float32Array).subarray(begin, begin + b.rows * size), offset);
    else for (let i = 0; i < b.rows * size; i++) out[offset + i] = src[begin + i]!;
    offset += b.rows * size;
  }
  if (!rule.transpose) return out;
  // our [out, in] -> HF [in, out]: hfShape is [in, out].
  return transpose2d(out, rule.hfShape[1]!, rule.hfShape[0]!);
}
