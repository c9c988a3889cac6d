/**
 * Training checkpoints: `<out>/checkpoint-<step>/`, each a complete Hugging Face model directory (see
 * model-files.ts) plus trainer_state.json (step, data position, RNG state, loss history, the options
 * of the run) and optimizer.safetensors (AdamW's m and v as `<param>.exp_avg` / `<param>.exp_avg_sq`).
 *
 * Atomicity: a checkpoint is written into `<out>/.tmp-checkpoint-<step>-<pid>/` (every file fsynced),
 * then renamed to its final name in one step, and only then are older checkpoints pruned. A crash at
 * any point leaves the previous checkpoint untouched and loadable; a half-written temp directory is
 * never taken for a checkpoint and is removed by the next save.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { syncDirectory } from '../io/atomic.js';
import { openSafetensors } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import type { Transformer } from '../model/transformer.js';
import type { FloatArray } from '../tensor/dtype.js';
import type { DataPosition } from './data.js';
import { readModelDir, type TokenizerFileSet, writeJsonFile, writeModelDir } from './model-files.js';
import type { AdamWState } from './optimizer.js';

export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const CHECKPOINT_NAME = /^checkpoint-(\d+)$/;

export interface LossRecord {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

export interface EvalRecord {
  step: number;
  loss: number;
  perplexity: number;
}

export interface TrainerState {
  /** Optimizer updates completed. */
  step: number;
  /** Where the training batcher continues. */
  dataPosition: DataPosition;
  /** The Rng state that drew the current epoch's window order. */
  rngState: number[];
  tokensSeen: number;
  lossHistory: LossRecord[];
  evalHistory: EvalRecord[];
  /** The run's settings (TrainOptions and how the data was specified), so a resume can repeat them. */
  options: Record<string, unknown>;
}

export interface CheckpointContents {
  model: Transformer;
  tokenizer?: TokenizerFileSet | null;
  optimizer: AdamWState;
  state: TrainerState;
}

export interface SaveCheckpointOptions {
  /** Checkpoints to keep, newest first (the one just written included). Default 2. */
  keep?: number;
  /** Called after each file of the checkpoint is complete (tests throw here to simulate a crash). */
  onFileWritten?: (file: string) => void;
}

/** Complete checkpoints under `root`, oldest first, as [step, path]. */
export function listCheckpoints(root: string): [number, string][] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => [CHECKPOINT_NAME.exec(name), name] as const)
    .filter(([match, name]) => match !== null && existsSync(join(root, name, TRAINER_STATE_FILE)))
    .map(([match, name]): [number, string] => [Number(match![1]), join(root, name)])
    .sort((a, b) => a[0] - b[0]);
}

/** A checkpoint directory itself, or the newest complete checkpoint under an output directory. */
export function resolveCheckpoint(path: string): string {
  if (existsSync(join(path, TRAINER_STATE_FILE))) return path;
  const found = listCheckpoints(path);
  if (found.length === 0) {
    throw new Error(
      `${path} holds no checkpoint (no ${TRAINER_STATE_FILE}, no complete checkpoint-<step>/ inside)`,
    );
  }
  return found[found.length - 1]![1];
}

/**
 * Writes `<root>/checkpoint-<step>/` atomically: `write` fills a temp directory (calling `done` after
 * each file), which is renamed into place when complete; older checkpoints are then pruned to `keep`.
 * `write` must write trainer_state.json last (its presence marks a checkpoint complete).
 */
export async function writeCheckpointDir(
  root: string,
  step: number,
  write: (dir: string, done: (file: string) => void) => Promise<void>,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  const keep = options.keep ?? 2;
  const done = options.onFileWritten ?? (() => {});
  mkdirSync(root, { recursive: true });
  for (const name of readdirSync(root)) {
    if (name.startsWith('.tmp-checkpoint-')) rmSync(join(root, name), { recursive: true, force: true });
  }
  const temp = join(root, `.tmp-checkpoint-${step}-${process.pid}`);
  const final = join(root, `checkpoint-${step}`);
  mkdirSync(temp);
  try {
    await write(temp, done);
    syncDirectory(temp);
    if (existsSync(final)) {
      // Saving the same step again (an interrupted run saved it already): swap, then drop the old copy.
      const old = `${temp}.old`;
      renameSync(final, old);
      renameSync(temp, final);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(temp, final);
    }
    syncDirectory(root);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  const all = listCheckpoints(root);
  for (const [, path] of all.slice(0, Math.max(0, all.length - keep)))
    rmSync(path, { recursive: true, force: true });
  return final;
}

/** AdamW moments as `<name>.exp_avg` / `<name>.exp_avg_sq`, the step in the metadata. */
export function writeOptimizerState(
  path: string,
  state: AdamWState,
  shapeOf: (name: string) => readonly number[] | undefined,
): void {
  const moments: Parameters<typeof writeSafetensors>[1] = {};
  for (const [name, m] of state.m) {
    const v = state.v.get(name)!;
    const shape = shapeOf(name) ?? [m.length];
    const dtype = m instanceof Float64Array ? 'F64' : 'F32';
    moments[`${name}.exp_avg`] = { dtype, shape, data: m };
    moments[`${name}.exp_avg_sq`] = { dtype, shape, data: v };
  }
  writeSafetensors(path, moments, { step: String(state.step) });
}

/** Reads the moments of `names` written by writeOptimizerState. */
export function readOptimizerState(path: string, names: readonly string[]): AdamWState {
  const reader = openSafetensors(path);
  try {
    const m = new Map<string, FloatArray>();
    const v = new Map<string, FloatArray>();
    for (const name of names) {
      for (const [suffix, into] of [
        ['exp_avg', m],
        ['exp_avg_sq', v],
      ] as const) {
        if (!reader.has(`${name}.${suffix}`)) throw new Error(`${path}: no tensor '${name}.${suffix}'`);
        into.set(name, reader.readFloat32(`${name}.${suffix}`));
      }
    }
    return { step: Number(reader.metadata.step ?? 0), m, v };
  } finally {
    reader.close();
  }
}

/** Writes a training checkpoint (model directory, optimizer, trainer state); returns its directory. */
export function saveCheckpoint(
  root: string,
  contents: CheckpointContents,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  const { model, tokenizer, optimizer, state } = contents;
  return writeCheckpointDir(
    root,
    state.step,
    async (dir, done) => {
      await writeModelDir(dir, model, { tokenizer, onFileWritten: done });
      writeOptimizerState(join(dir, OPTIMIZER_FILE), optimizer, (name) => model.params.get(name)?.shape);
      done(OPTIMIZER_FILE);
      writeJsonFile(join(dir, TRAINER_STATE_FILE), state);
      done(TRAINER_STATE_FILE);
    },
    options,
  );
}

/** trainer_state.json of a checkpoint directory. */
export function readTrainerState<S = TrainerState>(dir: string): S {
  try {
    return JSON.parse(readFileSync(join(dir, TRAINER_STATE_FILE), 'utf8'));
  } catch (e) {
    throw new Error(`${join(dir, TRAINER_STATE_FILE)}: cannot read (${(e as Error).message})`);
  }
}

export interface LoadedCheckpoint {
  dir: string;
  model: Transformer;
  optimizer: AdamWState;
  state: TrainerState;
}

/** Reads a checkpoint directory (or the newest one under an output directory). */
export function loadCheckpoint(path: string, backend?: Backend): LoadedCheckpoint {
  const dir = resolveCheckpoint(path);
  const state = readTrainerState(dir);
  const model = readModelDir(dir, backend);
  const optimizer = readOptimizerState(
    join(dir, OPTIMIZER_FILE),
    model.specs.map((s) => s.path),
  );
  return { dir, model, optimizer, state };
}
