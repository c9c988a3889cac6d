/**
 * Supervised fine-tuning: batches of prompt/response or chat examples (loss on the responses only),
 * AdamW with warmup + cosine/WSD, clipping and accumulation, over either LoRA adapters (the base model
 * frozen) or every parameter. The result is saved by the caller: a PEFT adapter directory for LoRA,
 * a full Hugging Face directory otherwise.
 */
import { LoraModel } from '../model/lora.js';
import type { Transformer } from '../model/transformer.js';
import { backward, noGrad, tensor } from '../ops/index.js';
import { scope, type Tensor } from '../tensor/tensor.js';
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
};

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
}

export interface FinetuneResult {
  step: number;
  interrupted: boolean;
  losses: number[];
  validationLoss: number | null;
  tokensPerSecond: number;
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
  const losses: number[] = [];
  let tokens = 0;
  let seconds = 0;
  let step = 0;
  let interrupted = false;
  const peak = defaultPeakFlops(model.backend);
  let flops = 0;
  try {
    while (step < o.steps) {
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
        etaSeconds: (seconds / step) * (o.steps - step),
      });
    }
    const validationLoss = setup.validation?.length
      ? await sftLoss(target, setup.validation, o.batchSize, setup.padId)
      : null;
    if (validationLoss !== null)
      progress.log(`validation loss (responses only) ${validationLoss.toFixed(4)}`);
    return { step, interrupted, losses, validationLoss, tokensPerSecond: seconds > 0 ? tokens / seconds : 0 };
  } finally {
    progress.finish();
    optimizer.dispose();
    if (!lora) model.requireGrad(false);
  }
}
