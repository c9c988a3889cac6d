/** `slm finetune`: supervised fine-tuning on prompt/response or chat JSONL, with LoRA or in full. */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_LORA_TARGETS, type LoraConfig, LoraModel } from '../model/lora.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { readTrainerState, resolveCheckpoint } from '../train/checkpoint.js';
import { type FinetuneOptions, type FinetuneState, finetune } from '../train/finetune.js';
import { copyTokenizerFiles, loadAnyModelDir, writeModelDir } from '../train/model-files.js';
import { ProgressBar } from '../train/progress.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../train/schedule.js';
import { sftExamples } from '../train/sft.js';
import { defineCommand, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';

/** What a fine-tuning run trains on, saved in its checkpoints so --resume can rebuild it. */
interface FinetunePlan {
  model: string;
  data: string;
  validation: string | null;
  lora: LoraConfig | null;
  maxLength: number | null;
}

function missing(option: string): never {
  throw new UsageError(`${option} is required (unless --resume)`);
}

export const finetuneCommand = defineCommand({
  name: 'finetune',
  summary: 'fine-tune a model on prompt/response or chat JSONL (LoRA or full)',
  usage: '--model <dir> --data <file.jsonl> [--lora-rank R] [--out <dir>] [options] | --resume <dir>',
  description: `
Each line of --data is {"prompt": "…", "response": "…"} (or "completion") or {"messages": [{"role", "content"}, …]}.
The loss covers only the response, or every assistant message as the chat template renders it (a
ChatML template when the tokenizer has none). With --lora-rank the base model is frozen and LoRA
adapters are trained on --lora-targets; --out then receives a PEFT adapter (adapter_config.json,
adapter_model.safetensors) that PyTorch peft loads, and 'slm export --merge-lora' folds it in.
Without --lora-rank every weight is trained and --out receives a full model directory.`,
  options: {
    model: {
      type: 'string',
      valueName: 'DIR',
      description: 'the base model directory (required unless --resume)',
    },
    data: {
      type: 'string',
      valueName: 'FILE',
      description: 'training examples, JSONL (required unless --resume)',
    },
    validation: {
      type: 'string',
      valueName: 'FILE',
      description: 'held-out examples (JSONL) scored at the end',
    },
    'lora-rank': {
      type: 'integer',
      valueName: 'R',
      description: 'train LoRA adapters of rank R (default: full fine-tuning)',
    },
    'lora-alpha': {
      type: 'number',
      description: 'LoRA scale numerator: updates are (alpha/R)·B·A (default 2R)',
    },
    'lora-targets': {
      type: 'string',
      valueName: 'LIST',
      description: `comma-separated projections to adapt (default ${DEFAULT_LORA_TARGETS.join(',')}; e.g. q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)`,
    },
    steps: { type: 'integer', description: 'optimizer steps (default 200)' },
    'batch-size': { type: 'integer', description: 'examples per micro-batch (default 4)' },
    'grad-accum': { type: 'integer', description: 'micro-batches per step (default 1)' },
    lr: { type: 'number', description: 'peak learning rate (default 2e-4 with LoRA, 2e-5 in full)' },
    warmup: { type: 'integer', description: 'warmup steps (default 5% of --steps)' },
    schedule: {
      type: 'string',
      choices: SCHEDULE_KINDS,
      description: 'learning-rate schedule (default cosine)',
    },
    clip: { type: 'number', description: 'gradient-norm clip, 0 = off (default 1)' },
    'max-length': {
      type: 'integer',
      description: "truncate examples to N tokens (default: the model's context)",
    },
    seed: { type: 'integer', description: 'seed of the adapters and the example order (default 0)' },
    'save-every': {
      type: 'integer',
      description: 'checkpoint <out>/checkpoint-<step>/ every N steps; 0 = only on Ctrl-C (default 0)',
    },
    resume: {
      type: 'string',
      valueName: 'DIR',
      description: 'continue a fine-tuning run from its output or checkpoint directory',
    },
    out: {
      type: 'string',
      short: 'o',
      valueName: 'DIR',
      description: 'output directory (default ./slm-finetune)',
    },
    ...backendOption,
  },
  examples: [
    'slm finetune --model runs/brown --data chats.jsonl --lora-rank 8 --out runs/chat-lora',
    'slm export --model runs/brown --lora runs/chat-lora --merge-lora --out runs/chat',
  ],
  async run({ options: o }, io) {
    const backend = await useBackend(o.backend, io.env);
    const resumeDir = o.resume === undefined ? null : resolveCheckpoint(o.resume);
    const saved = resumeDir ? readTrainerState<FinetuneState>(resumeDir) : null;
    if (saved && saved.kind !== 'finetune')
      throw new UsageError(`${resumeDir} is not a fine-tuning checkpoint`);
    // A resumed run repeats the saved plan; options given now override its training settings.
    const plan = (saved?.options.plan as FinetunePlan | undefined) ?? {
      model: o.model ?? missing('--model'),
      data: o.data ?? missing('--data'),
      validation: o.validation ?? null,
      lora:
        o['lora-rank'] === undefined
          ? null
          : {
              rank: o['lora-rank'],
              alpha: o['lora-alpha'] ?? 2 * o['lora-rank'],
              targetModules:
                o['lora-targets']
                  ?.split(',')
                  .map((t) => t.trim())
                  .filter(Boolean) ?? DEFAULT_LORA_TARGETS,
            },
      maxLength: o['max-length'] ?? null,
    };
    if (plan.lora && plan.lora.rank < 1) throw new UsageError('--lora-rank must be at least 1');
    const base = await loadAnyModelDir(plan.model, backend);
    const tokenizer = await loadTokenizer(plan.model);
    const context = base.config.maxPositionEmbeddings;
    const maxLength = Math.min(plan.maxLength ?? context, context);
    const read = (path: string) => sftExamples(tokenizer, readFileSync(path, 'utf8'), maxLength, path);
    const train = read(plan.data);
    const validation = plan.validation ? read(plan.validation) : undefined;
    const seed = o.seed ?? (saved?.options.finetune as { seed?: number } | undefined)?.seed ?? 0;
    let lora: LoraModel | null = null;
    let model = base;
    if (plan.lora)
      lora = resumeDir ? LoraModel.load(resumeDir, base) : LoraModel.create(base, plan.lora, seed);
    else if (resumeDir) model = await loadAnyModelDir(resumeDir, backend);
    const out = o.out ?? (resumeDir ? dirname(resumeDir) : 'slm-finetune');
    const steps = o.steps ?? (saved?.options.finetune as { steps?: number } | undefined)?.steps ?? 200;
    const given: Partial<FinetuneOptions> = {
      ...(saved?.options.finetune as Partial<FinetuneOptions> | undefined),
      steps,
      outDir: out,
      seed,
    };
    const set = <K extends keyof FinetuneOptions>(key: K, value: FinetuneOptions[K] | undefined) => {
      if (value !== undefined) given[key] = value;
    };
    set('batchSize', o['batch-size']);
    set('gradAccum', o['grad-accum']);
    set('lr', o.lr);
    set('warmup', o.warmup);
    set('schedule', o.schedule as ScheduleKind | undefined);
    set('clip', o.clip);
    set('saveEvery', o['save-every']);
    if (!saved) {
      given.lr ??= lora ? 2e-4 : 2e-5;
      given.warmup ??= Math.round(0.05 * steps);
    }
    const progress = new ProgressBar(io.stderr as typeof process.stderr);
    const what = lora
      ? `LoRA r=${lora.config.rank} on ${lora.config.targetModules.join(', ')}: ${lora.numParameters().toLocaleString('en-US')}`
      : `all ${model.numParameters().toLocaleString('en-US')}`;
    io.stderr.write(
      `fine-tuning ${what} parameters, ${train.length} examples, ${steps} steps on ${backend.name}` +
        `${saved ? `, resuming at step ${saved.step}` : ''}\n`,
    );
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    try {
      const result = await finetune({
        target: lora ?? model,
        train,
        validation,
        padId: tokenizer.padTokenId ?? tokenizer.eosTokenIds[0] ?? 0,
        options: given,
        progress,
        signal: controller.signal,
        tokenizer: tokenizer.files(),
        extraState: { plan },
        resumeFrom: resumeDir,
      });
      if (!result.interrupted) {
        if (lora) await lora.save(out, plan.model);
        else await writeModelDir(out, model, { tokenizer: tokenizer.files() });
        copyTokenizerFiles(plan.model, out);
      }
      io.stderr.write(
        result.interrupted
          ? `interrupted at step ${result.step}; saved ${result.lastCheckpoint} (continue with --resume ${out})\n`
          : `saved ${lora ? 'the LoRA adapter' : 'the model'} to ${out}\n`,
      );
      return result.interrupted ? 130 : 0;
    } finally {
      process.off('SIGINT', onSignal);
    }
  },
});
