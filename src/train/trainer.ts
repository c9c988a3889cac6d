/**
 * The training loop: for each optimizer step, `gradAccum` micro-batches of [B, T] windows (forward,
 * backward, gradients summed in .grad), then AdamW with the scheduled learning rate and global-norm
 * clipping. Every `evalEvery` steps the validation loss and perplexity; every `saveEvery` steps (and at
 * the end, and on interrupt) an atomic checkpoint. Resuming from a checkpoint reproduces the losses of
 * an uninterrupted run exactly: the weights, AdamW moments, step count and data position are restored,
 * and nothing else is random.
 */
import { basename } from 'node:path';
import { type Backend, findBackend } from '../backend/backend.js';
import { Transformer } from '../model/transformer.js';
import { backward, noGrad, tensor } from '../ops/index.js';
import { fmix32 } from '../tensor/random.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import {
  type EvalRecord,
  type LossRecord,
  loadCheckpoint,
  type SaveCheckpointOptions,
  saveCheckpoint,
  type TrainerState,
} from './checkpoint.js';
import { type Batch, Batcher, evalBatches } from './data.js';
import { type TokenizerFileSet, writeModelDir } from './model-files.js';
import { AdamW, decayGroups } from './optimizer.js';
import { defaultPeakFlops, type ProgressSink, silentProgress, trainingFlopsPerToken } from './progress.js';
import { learningRate, type ScheduleKind, validateSchedule } from './schedule.js';

export interface TrainOptions {
  steps: number;
  batchSize: number;
  seqLen: number;
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate of the decay. Default lr / 10. */
  minLR: number | null;
  warmup: number;
  schedule: ScheduleKind;
  /** wsd: fraction of the steps spent decaying. */
  decayFraction: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  /** Global gradient-norm clip (0: none). */
  clip: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Evaluate every N steps (0: only at the end); over at most evalBatches batches of validation windows. */
  evalEvery: number;
  evalBatches: number;
  /** Checkpoint every N steps (0: only at the end and on interrupt). */
  saveEvery: number;
  keepCheckpoints: number;
  /** The final model in outDir is the one with the lowest validation loss seen (early stopping). */
  keepBest: boolean;
  /** Where checkpoints and the final model go; null: nothing is written. */
  outDir: string | null;
  seed: number;
  /** Training-time dropout probability on embeddings and residual branches (0: off). */
  dropout: number;
  /** Peak FLOP/s for MFU; null: the backend's default estimate. */
  peakFlops: number | null;
}

export const defaultTrainOptions: TrainOptions = {
  steps: 1000,
  batchSize: 8,
  seqLen: 128,
  lr: 3e-3,
  minLR: null,
  warmup: 50,
  schedule: 'cosine',
  decayFraction: 0.2,
  gradAccum: 1,
  clip: 1,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  evalEvery: 100,
  evalBatches: 8,
  saveEvery: 500,
  keepCheckpoints: 2,
  keepBest: false,
  outDir: null,
  seed: 0,
  dropout: 0,
  peakFlops: null,
};

export interface TrainerSetup {
  model: Transformer;
  /** Training and validation id streams (EOS-separated documents). */
  train: Int32Array;
  validation?: Int32Array | null;
  tokenizer?: TokenizerFileSet | null;
  options?: Partial<TrainOptions>;
  progress?: ProgressSink;
  /** Abort to stop after the current step (a checkpoint is saved first). */
  signal?: AbortSignal;
  /** Saved in trainer_state.json beside the options (e.g. how the CLI found the data). */
  extraState?: Record<string, unknown>;
  /** Passed to every checkpoint save (tests use onFileWritten to simulate crashes). */
  checkpointHooks?: Pick<SaveCheckpointOptions, 'onFileWritten'>;
}

export interface TrainResult {
  step: number;
  interrupted: boolean;
  lossHistory: LossRecord[];
  evalHistory: EvalRecord[];
  /** Training tokens per second over this run's steps (evaluation and saving excluded). */
  tokensPerSecond: number;
  mfu: number;
  lastCheckpoint: string | null;
  /** With keepBest: the step whose weights became the final model (null: no evaluation ran). */
  bestStep: number | null;
}

export class Trainer {
  readonly model: Transformer;
  readonly options: TrainOptions;
  readonly optimizer: AdamW;
  readonly batcher: Batcher;
  readonly validation: Batch[];
  step = 0;
  tokensSeen = 0;
  lossHistory: LossRecord[] = [];
  evalHistory: EvalRecord[] = [];
  private readonly setup: TrainerSetup;
  private lastCheckpoint: string | null = null;

  constructor(setup: TrainerSetup) {
    this.setup = setup;
    this.model = setup.model;
    // Options given as undefined keep their defaults.
    const given = Object.entries(setup.options ?? {}).filter(([, v]) => v !== undefined);
    const options: TrainOptions = { ...defaultTrainOptions, ...Object.fromEntries(given) };
    this.options = options;
    validateSchedule(this.schedule());
    for (const key of ['gradAccum', 'evalBatches', 'keepCheckpoints'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1)
        throw new Error(`${key} must be a positive integer, got ${options[key]}`);
    }
    for (const key of ['evalEvery', 'saveEvery'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 0)
        throw new Error(`${key} must be a non-negative integer, got ${options[key]}`);
    }
    if (options.seqLen > this.model.config.maxPositionEmbeddings) {
      throw new Error(
        `seqLen ${options.seqLen} exceeds the model's context of ${this.model.config.maxPositionEmbeddings} (maxPositionEmbeddings)`,
      );
    }
    const ids = setup.train;
    const vocab = this.model.config.vocabSize;
    const bad = ids.find((id) => id < 0 || id >= vocab);
    if (bad !== undefined)
      throw new Error(`the training data holds token id ${bad}, outside the model's vocabulary of ${vocab}`);
    this.model.requireGrad();
    this.optimizer = new AdamW(decayGroups(this.model.specs, this.model.params), options);
    this.batcher = new Batcher(ids, options.batchSize, options.seqLen, options.seed);
    this.validation = setup.validation
      ? evalBatches(setup.validation, options.batchSize, options.seqLen, options.evalBatches)
      : [];
  }

  /** A trainer continuing from a checkpoint (a checkpoint-<step> directory or an output directory). */
  static fromCheckpoint(path: string, setup: Omit<TrainerSetup, 'model'> & { backend?: Backend }): Trainer {
    const saved = loadCheckpoint(path, setup.backend);
    const savedOptions = (saved.state.options.train ?? {}) as Partial<TrainOptions>;
    const trainer = new Trainer({
      ...setup,
      model: saved.model,
      options: { ...savedOptions, ...setup.options },
    });
    trainer.optimizer.loadState(saved.optimizer);
    trainer.batcher.setState(saved.state.dataPosition);
    trainer.step = saved.state.step;
    trainer.tokensSeen = saved.state.tokensSeen;
    trainer.lossHistory = saved.state.lossHistory;
    trainer.evalHistory = saved.state.evalHistory;
    trainer.lastCheckpoint = saved.dir;
    return trainer;
  }

  private schedule() {
    const o = this.options;
    return {
      kind: o.schedule,
      peakLR: o.lr,
      minLR: o.minLR ?? o.lr / 10,
      warmupSteps: o.warmup,
      totalSteps: o.steps,
      decayFraction: o.decayFraction,
    };
  }

  /** Mean loss over the validation batches (and its exp, the token perplexity). */
  async evaluate(): Promise<{ loss: number; perplexity: number } | null> {
    if (this.validation.length === 0) return null;
    let total = 0;
    let count = 0;
    for (const batch of this.validation) {
      const loss = noGrad(() => scope(() => this.batchLoss(batch)));
      total += (await loss.item()) * batch.inputs.length;
      loss.dispose();
      count += batch.inputs.length;
    }
    const loss = total / count;
    return { loss, perplexity: Math.exp(loss) };
  }

  /**
   * Mean next-token loss of a batch; with `dropoutSeed`, training-time dropout (seeded per step and
   * micro-batch, so a resumed run draws the same masks).
   */
  private batchLoss(batch: Batch, dropoutSeed: number | null = null): Tensor {
    const backend = this.model.backend;
    const shape = [batch.batchSize, batch.seqLen];
    const inputs = tensor(batch.inputs, shape, { backend });
    const targets = tensor(batch.targets, shape, { backend });
    const p = this.options.dropout;
    const dropout = dropoutSeed !== null && p > 0 ? { p, seed: dropoutSeed } : null;
    return this.model.loss(inputs, targets, -100, { dropout });
  }

  /** One optimizer step; returns its record. */
  async trainStep(): Promise<LossRecord> {
    const t = this.step + 1;
    const lr = learningRate(t, this.schedule());
    const losses: Tensor[] = [];
    for (let micro = 0; micro < this.options.gradAccum; micro++) {
      const batch = this.batcher.next();
      losses.push(
        scope(() => {
          const loss = this.batchLoss(batch, fmix32((this.options.seed ^ fmix32(t * 64 + micro)) >>> 0));
          backward(loss);
          return loss;
        }),
      );
      this.tokensSeen += batch.inputs.length;
    }
    let lossSum = 0;
    for (const loss of losses) {
      lossSum += await loss.item();
      loss.dispose();
    }
    const { gradNorm } = await this.optimizer.step({
      lr,
      clip: this.options.clip,
      microBatches: this.options.gradAccum,
    });
    this.optimizer.zeroGrad();
    this.step = t;
    const record = { step: t, loss: lossSum / losses.length, lr, gradNorm };
    this.lossHistory.push(record);
    return record;
  }

  state(): TrainerState {
    return {
      step: this.step,
      dataPosition: this.batcher.state,
      rngState: this.batcher.rngState,
      tokensSeen: this.tokensSeen,
      lossHistory: this.lossHistory,
      evalHistory: this.evalHistory,
      options: { train: this.options, ...this.setup.extraState },
    };
  }

  /** Writes checkpoint-<step> under outDir (atomically); returns its path. */
  async saveCheckpoint(): Promise<string> {
    if (!this.options.outDir) throw new Error('saveCheckpoint: no outDir was given');
    this.lastCheckpoint = await saveCheckpoint(
      this.options.outDir,
      {
        model: this.model,
        tokenizer: this.setup.tokenizer,
        optimizer: await this.optimizer.state(),
        state: this.state(),
      },
      { keep: this.options.keepCheckpoints, ...this.setup.checkpointHooks },
    );
    return this.lastCheckpoint;
  }

  /** Trains until `options.steps` (or an abort); evaluates, checkpoints and reports on the way. */
  async run(): Promise<TrainResult> {
    const o = this.options;
    const progress = this.setup.progress ?? silentProgress;
    const flopsPerToken = trainingFlopsPerToken(this.model, o.seqLen);
    const peak = o.peakFlops ?? defaultPeakFlops(this.model.backend);
    const tokensPerStep = o.batchSize * o.seqLen * o.gradAccum;
    let stepSeconds = 0;
    let stepsRun = 0;
    let interrupted = false;
    const rate = () => (stepSeconds > 0 ? (stepsRun * tokensPerStep) / stepSeconds : 0);
    let best: { step: number; loss: number; weights: Map<string, Float32Array> } | null = null;

    while (this.step < o.steps) {
      // On the cpu backend every await resolves as a microtask, so without this the event loop never
      // runs and a Ctrl-C handler (which sets the abort signal) would wait for the end of training.
      await yieldToEventLoop();
      if (this.setup.signal?.aborted) {
        interrupted = true;
        break;
      }
      const started = performance.now();
      const record = await this.trainStep();
      await this.model.backend.sync();
      stepSeconds += (performance.now() - started) / 1000;
      stepsRun++;
      progress.step({
        ...record,
        totalSteps: o.steps,
        tokensPerSecond: rate(),
        mfu: (rate() * flopsPerToken) / peak,
        etaSeconds: (stepSeconds / stepsRun) * (o.steps - this.step),
      });
      const last = this.step === o.steps;
      if ((o.evalEvery > 0 && this.step % o.evalEvery === 0) || last) {
        const result = await this.evaluate();
        if (result) {
          this.evalHistory.push({ step: this.step, ...result });
          if (o.keepBest && (best === null || result.loss < best.loss)) {
            const weights = new Map<string, Float32Array>();
            for (const [path, t] of this.model.params) weights.set(path, Float32Array.from(await t.data()));
            best = { step: this.step, loss: result.loss, weights };
          }
          progress.log(
            `step ${this.step}: validation loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(2)}`,
          );
        }
      }
      if (o.outDir && ((o.saveEvery > 0 && this.step % o.saveEvery === 0) || last)) {
        progress.log(`saved ${await this.saveCheckpoint()}`);
      }
    }
    const savedNow =
      this.lastCheckpoint !== null && basename(this.lastCheckpoint) === `checkpoint-${this.step}`;
    if (interrupted && o.outDir && this.step > 0) {
      const where = savedNow ? this.lastCheckpoint : await this.saveCheckpoint();
      progress.log(`interrupted at step ${this.step}: checkpoint ${where}`);
    }
    if (!interrupted && o.outDir) {
      const finalModel = best ? modelFromWeights(this.model, best.weights) : this.model;
      await writeModelDir(o.outDir, finalModel, { tokenizer: this.setup.tokenizer });
      if (finalModel !== this.model) finalModel.dispose();
      progress.log(
        `final model written to ${o.outDir}${best ? ` (weights of step ${best.step}, the lowest validation loss ${best.loss.toFixed(4)})` : ''}`,
      );
    }
    progress.finish();
    return {
      step: this.step,
      interrupted,
      lossHistory: this.lossHistory,
      evalHistory: this.evalHistory,
      tokensPerSecond: rate(),
      mfu: (rate() * flopsPerToken) / peak,
      lastCheckpoint: this.lastCheckpoint,
      bestStep: best?.step ?? null,
    };
  }
}

/** A cpu copy of `model` with other weights (the architecture unchanged). */
function modelFromWeights(model: Transformer, weights: Map<string, Float32Array>): Transformer {
  const cpu = findBackend('cpu');
  const params = new Map<string, Tensor>();
  for (const spec of model.specs)
    params.set(spec.path, tensor(weights.get(spec.path)!, spec.shape, { backend: cpu }));
  return new Transformer(model.config, params);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
