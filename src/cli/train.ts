/** `slm train`: pretrain a model from a config on text files (or the Brown corpus), or resume a run. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadModelConfig } from '../config/load.js';
import { Transformer } from '../model/transformer.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { readTrainerState, resolveCheckpoint } from '../train/checkpoint.js';
import { ProgressBar } from '../train/progress.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../train/schedule.js';
import {
  type DataSpec,
  fitConfigToTokenizer,
  loadTrainingTexts,
  prepareTokenizer,
  tokenStreams,
} from '../train/setup.js';
import { defaultTrainOptions, Trainer, type TrainOptions } from '../train/trainer.js';
import { defineCommand, type OptionsSpec, type OptionValues, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';

const d = defaultTrainOptions;

const trainOptions = {
  config: {
    type: 'string',
    valueName: 'PRESET|FILE',
    description:
      'model shape: a preset (tiny, smollm2-135m, …), our config JSON or an HF config.json (default tiny)',
  },
  data: {
    type: 'string',
    repeated: true,
    valueName: 'PATH',
    description: 'training text: file, folder, .jsonl, or brown[:split] (default: the Brown train split)',
  },
  validation: {
    type: 'string',
    repeated: true,
    valueName: 'PATH',
    description: 'validation text (default: Brown validation on Brown, else the last --holdout of --data)',
  },
  holdout: { type: 'number', description: 'fraction of --data held out for validation (default 0.05)' },
  tokenizer: {
    type: 'string',
    valueName: 'DIR',
    description: 'use the tokenizer.json in DIR instead of training one',
  },
  'vocab-size': {
    type: 'integer',
    description: 'vocabulary of the BPE trained when --tokenizer is absent (default 4096)',
  },
  steps: { type: 'integer', description: `optimizer steps (default ${d.steps})` },
  'batch-size': { type: 'integer', description: `sequences per micro-batch (default ${d.batchSize})` },
  'seq-len': { type: 'integer', description: `tokens per sequence (default ${d.seqLen})` },
  lr: { type: 'number', description: `peak learning rate (default ${d.lr})` },
  'min-lr': { type: 'number', description: 'learning rate at the end of the decay (default lr/10)' },
  warmup: { type: 'integer', description: 'linear warmup steps (default 5% of --steps)' },
  schedule: {
    type: 'string',
    choices: SCHEDULE_KINDS,
    description:
      'cosine decay, wsd (warmup-stable-decay: constant, then linear decay over the last 20%), or constant (default cosine)',
  },
  'grad-accum': {
    type: 'integer',
    description: `micro-batches per optimizer step (default ${d.gradAccum})`,
  },
  clip: {
    type: 'number',
    description: `clip the global gradient norm to this; 0 = off (default ${d.clip})`,
  },
  'weight-decay': {
    type: 'number',
    description: `AdamW weight decay of matrices (default ${d.weightDecay})`,
  },
  dropout: {
    type: 'number',
    description: `dropout probability on embeddings and residual branches while training (default ${d.dropout})`,
  },
  'eval-every': {
    type: 'integer',
    description: `validation loss every N steps; 0 = only at the end (default ${d.evalEvery})`,
  },
  'eval-batches': {
    type: 'integer',
    description: `validation batches per evaluation (default ${d.evalBatches})`,
  },
  'save-every': {
    type: 'integer',
    description: `checkpoint every N steps; 0 = only at the end (default ${d.saveEvery})`,
  },
  'keep-best': {
    type: 'boolean',
    description:
      'the final model is the one with the lowest validation loss of the run, not the last (early stopping)',
  },
  out: {
    type: 'string',
    short: 'o',
    valueName: 'DIR',
    description: 'output directory (default ./slm-run)',
  },
  resume: {
    type: 'string',
    valueName: 'DIR',
    description: 'continue the run in DIR (an output or checkpoint-<step> directory)',
  },
  seed: { type: 'integer', description: 'seed of the initial weights and the data order (default 0)' },
  'peak-flops': {
    type: 'number',
    description: 'peak FLOP/s of the device for MFU (default: an estimate per backend)',
  },
  json: { type: 'boolean', description: 'print a JSON summary on stdout at the end' },
  ...backendOption,
} as const satisfies OptionsSpec;

type TrainArgs = OptionValues<typeof trainOptions>;

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a model on text files or the Brown corpus (checkpoints, resume, eval)',
  usage:
    '[--config <preset|config.json>] [--data <path>...] [--tokenizer <dir>] [--steps N] [--out <dir>] [--resume <dir>] [options]',
  description: `
Trains a causal language model from scratch. The data is one or more text files, folders (*.txt and *.md,
recursively) or JSONL files (a "text" field per line); documents are joined with EOS. Without --data the
model trains on the Brown corpus (train files ca01–cj54, validation cj55–cm06, as Bengio et al. 2003);
--data brown:validation and brown:test name the other splits. Without --tokenizer a byte-level BPE of
--vocab-size tokens is trained on the training text and saved with the model.

Every --save-every steps a checkpoint <out>/checkpoint-<step>/ is written atomically (a Hugging Face
model directory plus trainer_state.json and optimizer.safetensors); the final model goes to <out>.
Ctrl-C stops after the current step and saves a checkpoint; --resume <out> continues it exactly (the
saved settings are reused; options given on the command line override them).`,
  options: trainOptions,
  examples: [
    'slm train --steps 2000 --out runs/brown',
    'slm train --config tiny --data notes/ --vocab-size 2048 --seq-len 256 --schedule wsd --out runs/notes',
    'slm train --resume runs/brown --steps 4000',
  ],
  async run({ options: o }, io) {
    await useBackend(o.backend, io.env);
    const overrides: Partial<TrainOptions> = {};
    const set = <K extends keyof TrainOptions>(key: K, value: TrainOptions[K] | undefined) => {
      if (value !== undefined) overrides[key] = value;
    };
    set('steps', o.steps);
    set('batchSize', o['batch-size']);
    set('seqLen', o['seq-len']);
    set('lr', o.lr);
    set('minLR', o['min-lr']);
    set('warmup', o.warmup);
    set('schedule', o.schedule as ScheduleKind | undefined);
    set('gradAccum', o['grad-accum']);
    set('clip', o.clip);
    set('weightDecay', o['weight-decay']);
    if (o.dropout !== undefined && !(o.dropout >= 0 && o.dropout < 1)) {
      throw new UsageError(`--dropout must be in [0, 1), got ${o.dropout}`);
    }
    set('dropout', o.dropout);
    set('evalEvery', o['eval-every']);
    set('evalBatches', o['eval-batches']);
    set('saveEvery', o['save-every']);
    set('seed', o.seed);
    set('peakFlops', o['peak-flops']);
    set('outDir', o.out);
    if (o['keep-best']) overrides.keepBest = true;

    const progress = new ProgressBar(io.stderr as typeof process.stderr);
    const controller = new AbortController();
    const onSignal = () => {
      if (controller.signal.aborted) process.exit(130);
      progress.log('stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)');
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    try {
      const trainer = o.resume
        ? await resumeTrainer(o.resume, overrides, o.out, progress, controller.signal)
        : await freshTrainer(o, overrides, progress, controller.signal, io.stderr);
      const t = trainer.options;
      io.stderr.write(
        `training ${trainer.model.numParameters().toLocaleString('en-US')} parameters on ${trainer.model.backend.name}: ` +
          `${t.steps} steps × ${t.batchSize}×${t.seqLen} tokens × ${t.gradAccum} micro-batches, lr ${t.lr} ${t.schedule}` +
          `${trainer.step > 0 ? `, resuming at step ${trainer.step}` : ''}\n`,
      );
      const result = await trainer.run();
      const last = result.lossHistory.at(-1);
      const summary = {
        step: result.step,
        interrupted: result.interrupted,
        loss: last?.loss ?? null,
        validationLoss: result.evalHistory.at(-1)?.loss ?? null,
        validationPerplexity: result.evalHistory.at(-1)?.perplexity ?? null,
        tokensPerSecond: result.tokensPerSecond,
        mfu: result.mfu,
        out: t.outDir,
        checkpoint: result.lastCheckpoint,
        bestStep: result.bestStep,
      };
      if (o.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
      return result.interrupted ? 130 : 0;
    } finally {
      process.off('SIGINT', onSignal);
    }
  },
});

async function freshTrainer(
  o: TrainArgs,
  overrides: Partial<TrainOptions>,
  progress: ProgressBar,
  signal: AbortSignal,
  stderr: { write(text: string): unknown },
): Promise<Trainer> {
  const outDir = overrides.outDir ?? 'slm-run';
  if (existsSync(join(outDir, 'trainer_state.json')) || existsSync(join(outDir, 'config.json'))) {
    throw new UsageError(
      `${outDir} already holds a run; pass --resume ${outDir} to continue it, or another --out`,
    );
  }
  const steps = overrides.steps ?? d.steps;
  const options: Partial<TrainOptions> = {
    warmup: Math.round(0.05 * steps),
    ...overrides,
    outDir,
  };
  const spec: DataSpec = { train: o.data, validation: o.validation, holdout: o.holdout ?? 0.05 };
  if (!(spec.holdout >= 0 && spec.holdout < 1))
    throw new UsageError(`--holdout must be in [0, 1), got ${spec.holdout}`);
  const texts = loadTrainingTexts(spec);
  stderr.write(`data: ${texts.description}\n`);
  const vocabSize = o['vocab-size'] ?? 4096;
  if (!o.tokenizer) stderr.write(`training a byte-level BPE tokenizer of ${vocabSize} tokens…\n`);
  const tokenizer = await prepareTokenizer({ dir: o.tokenizer ?? null, vocabSize }, texts.train);
  const streams = tokenStreams(texts, tokenizer, spec.holdout);
  stderr.write(
    `tokens: ${streams.train.length.toLocaleString('en-US')} train, ${(streams.validation?.length ?? 0).toLocaleString('en-US')} validation\n`,
  );
  const { config } = await loadModelConfig(o.config ?? 'tiny');
  const fitted = fitConfigToTokenizer(config, tokenizer, options.seqLen ?? d.seqLen);
  const model = Transformer.init(fitted, { seed: options.seed ?? 0 });
  return new Trainer({
    model,
    train: streams.train,
    validation: streams.validation,
    tokenizer: tokenizer.files(),
    options,
    progress,
    signal,
    extraState: { data: spec },
  });
}

async function resumeTrainer(
  path: string,
  overrides: Partial<TrainOptions>,
  out: string | undefined,
  progress: ProgressBar,
  signal: AbortSignal,
): Promise<Trainer> {
  const dir = resolveCheckpoint(path);
  const state = readTrainerState(dir);
  if ((state as { kind?: string }).kind === 'finetune')
    throw new UsageError(`${dir} is a fine-tuning checkpoint: continue it with slm finetune --resume`);
  const spec = state.options?.data as DataSpec | undefined;
  if (!spec) throw new Error(`${dir}: trainer_state.json does not say what data the run used`);
  const tokenizer = await loadTokenizer(dir);
  const streams = tokenStreams(loadTrainingTexts(spec), tokenizer, spec.holdout);
  // New checkpoints go beside the one resumed from (the run may have moved since it was saved).
  if (out === undefined) overrides.outDir = dirname(dir);
  return Trainer.fromCheckpoint(dir, {
    train: streams.train,
    validation: streams.validation,
    tokenizer: tokenizer.files(),
    options: overrides,
    progress,
    signal,
    extraState: { data: spec },
  });
}
