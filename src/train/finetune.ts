/**
 * Supervised fine-tuning: batches of prompt/response or chat examples (loss on the responses only),
 * AdamW with warmup + cosine/WSD, clipping and accumulation, over either LoRA adapters (the base model
 * frozen) or every parameter. The result is saved by the caller: a PEFT adapter directory for LoRA,
 * a full Hugging Face directory otherwise.
 */
import { join } from 'node:path';
import { LoraModel } from '../model/lora.js';
import type { Transformer } from '../model/transformer.js';
import { backward, noGrad, tensor } from '../ops/index.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import {
  OPTIMIZER_FILE,
  readOptimizerState,
  readTrainerState,
  resolveCheckpoint,
  TRAINER_STATE_FILE,
  writeCheckpointDir,
  writeOptimizerState,
} from './checkpoint.js';
import { type TokenizerFileSet, writeJsonFile, writeModelDir } from './model-files.js';
import { AdamW, decayGroups, type OptimizedParam } from './optimizer.js';
import { defaultPeakFlops, type ProgressSink, silentProgress, trainingFlopsPerToken } from './progress.js';
import { learningRate, type ScheduleKind, validateSchedule } from './schedule.js';
import { collate, type SftBatch, SftBatcher, type SftExample } from './sft.js';

export interface FinetuneOptions {
  steps: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  minLR: number | null;
  warmup: number;
  schedule: ScheduleKind;
  clip: number;
  weightDecay: number;
  seed: number;
  /** Checkpoint every N steps (0: only on interrupt); needs outDir. */
  saveEvery: number;
  keepCheckpoints: number;
  /** Where checkpoint-<step>/ directories go; null: none are written. */
  outDir: string | null;
}

export const defaultFinetuneOptions: FinetuneOptions = {
  steps: 200,
  batchSize: 4,
  gradAccum: 1,
  lr: 2e-4,
  minLR: null,
  warmup: 10,
  schedule: 'cosine',
  clip: 1,
  weightDecay: 0,
  seed: 0,
  saveEvery: 0,
  keepCheckpoints: 2,
  outDir: null,
};

/** trainer_state.json of a fine-tuning checkpoint. */
export interface FinetuneState {
  kind: 'finetune';
  step: number;
  dataPosition: { epoch: number; cursor: number };
  losses: number[];
  /** The options and what the caller put in extraState (data, base model, LoRA settings). */
  options: Record<string, unknown>;
}

export interface FinetuneSetup {
  /** LoRA adapters to train (base frozen), or a model to train in full. */
  target: LoraModel | Transformer;
  train: SftExample[];
  validation?: SftExample[];
  /** Token id used to pad batches (never scored). */
  padId: number;
  options?: Partial<FinetuneOptions>;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Tokenizer files saved in checkpoints of a full fine-tune. */
  tokenizer?: TokenizerFileSet | null;
  /** Saved in trainer_state.json beside the options. */
  extraState?: Record<string, unknown>;
  /**
   * Continue from this checkpoint directory: the step, example position, losses and optimizer moments
   * are restored (the caller loads the adapters or model weights from it into `target`).
   */
  resumeFrom?: string | null;
}

export interface FinetuneResult {
  step: number;
  interrupted: boolean;
  losses: number[];
  validationLoss: number | null;
  tokensPerSecond: number;
  lastCheckpoint: string | null;
}

function lossOf(target: LoraModel | Transformer, batch: SftBatch): Tensor {
  const shape = [batch.batchSize, batch.seqLen];
  const backend = target instanceof LoraModel ? target.base.backend : target.backend;
  const inputs = tensor(batch.inputs, shape, { backend });
  const targets = tensor(batch.targets, shape, { backend });
  return target.loss(inputs, targets);
}

/** Mean response-token loss over examples (batched by `batchSize`, no gradients). */
export async function sftLoss(
  target: LoraModel | Transformer,
  examples: readonly SftExample[],
  batchSize: number,
  padId: number,
): Promise<number> {
  let total = 0;
  let count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = collate(examples.slice(i, i + batchSize), padId);
    const scored = batch.targets.filter((t) => t !== -100).length;
    const loss = noGrad(() => scope(() => lossOf(target, batch)));
    total += (await loss.item()) * scored;
    count += scored;
    loss.dispose();
  }
  return total / count;
}

export async function finetune(setup: FinetuneSetup): Promise<FinetuneResult> {
  const given = Object.entries(setup.options ?? {}).filter(([, v]) => v !== undefined);
  const o: FinetuneOptions = { ...defaultFinetuneOptions, ...Object.fromEntries(given) };
  const schedule = {
    kind: o.schedule,
    peakLR: o.lr,
    minLR: o.minLR ?? o.lr / 10,
    warmupSteps: o.warmup,
    totalSteps: o.steps,
  };
  validateSchedule(schedule);
  const { target } = setup;
  const lora = target instanceof LoraModel ? target : null;
  const model = lora ? lora.base : (target as Transformer);
  const params: OptimizedParam[] = lora
    ? lora.namedParameters().map(({ name, param }) => ({ name, param, decay: true }))
    : decayGroups(model.requireGrad().specs, model.params);
  const optimizer = new AdamW(params, { weightDecay: o.weightDecay });
  const batcher = new SftBatcher(setup.train, o.batchSize, o.seed, setup.padId);
  const progress = setup.progress ?? silentProgress;
  let losses: number[] = [];
  let tokens = 0;
  let seconds = 0;
  let step = 0;
  let interrupted = false;
  let lastCheckpoint: string | null = null;
  let stepsRun = 0;
  if (setup.resumeFrom) {
    const dir = resolveCheckpoint(setup.resumeFrom);
    const state = readTrainerState<FinetuneState>(dir);
    if (state.kind !== 'finetune') throw new Error(`${dir} is not a fine-tuning checkpoint`);
    optimizer.loadState(
      readOptimizerState(
        join(dir, OPTIMIZER_FILE),
        params.map((p) => p.name),
      ),
    );
    batcher.setState(state.dataPosition);
    step = state.step;
    losses = state.losses;
  }
  const save = async () => {
    const state: FinetuneState = {
      kind: 'finetune',
      step,
      dataPosition: batcher.state,
      losses,
      options: { finetune: o, ...setup.extraState },
    };
    const moments = await optimizer.state();
    lastCheckpoint = await writeCheckpointDir(
      o.outDir!,
      step,
      async (dir, done) => {
        if (lora) await lora.save(dir);
        else await writeModelDir(dir, model, { tokenizer: setup.tokenizer });
        done('weights');
        const shapes = new Map(params.map((p) => [p.name, p.param.shape]));
        writeOptimizerState(join(dir, OPTIMIZER_FILE), moments, (name) => shapes.get(name));
        writeJsonFile(join(dir, TRAINER_STATE_FILE), state);
      },
      { keep: o.keepCheckpoints },
    );
    progress.log(`saved ${lastCheckpoint}`);
  };
  const peak = defaultPeakFlops(model.backend);
  let flops = 0;
  try {
    while (step < o.steps) {
      // On the cpu backend every await resolves as a microtask, so without this the event loop never
      // runs and a Ctrl-C handler (which sets the abort signal) would wait for the end of training.
      await yieldToEventLoop();
      if (setup.signal?.aborted) {
        interrupted = true;
        break;
      }
      const started = performance.now();
      let lossSum = 0;
      for (let micro = 0; micro < o.gradAccum; micro++) {
        const batch = batcher.next();
        const loss = scope(() => {
          const l = lossOf(target, batch);
          backward(l);
          return l;
        });
        lossSum += await loss.item();
        loss.dispose();
        tokens += batch.inputs.length;
        // Every position of the padded batch is computed; 6N+attention per token (an upper bound for
        // LoRA, which skips the frozen weights' gradients).
        flops += batch.inputs.length * trainingFlopsPerToken(model, batch.seqLen);
      }
      step++;
      stepsRun++;
      const lr = learningRate(step, schedule);
      const { gradNorm } = await optimizer.step({ lr, clip: o.clip, microBatches: o.gradAccum });
      optimizer.zeroGrad();
      seconds += (performance.now() - started) / 1000;
      losses.push(lossSum / o.gradAccum);
      const rate = tokens / seconds;
      progress.step({
        step,
        totalSteps: o.steps,
        loss: losses.at(-1)!,
        lr,
        gradNorm,
        tokensPerSecond: rate,
        mfu: flops / seconds / peak,
        etaSeconds: (seconds / stepsRun) * (o.steps - step),
      });
      if (o.outDir && o.saveEvery > 0 && step % o.saveEvery === 0) await save();
    }
    if (interrupted && o.outDir && step > 0) await save();
    const validationLoss = setup.validation?.length
      ? await sftLoss(target, setup.validation, o.batchSize, setup.padId)
      : null;
    if (validationLoss !== null)
      progress.log(`validation loss (responses only) ${validationLoss.toFixed(4)}`);
    return {
      step,
      interrupted,
      losses,
      validationLoss,
      tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
      lastCheckpoint,
    };
  } finally {
    progress.finish();
    optimizer.dispose();
    if (!lora) model.requireGrad(false);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
