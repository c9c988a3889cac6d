/** `slm finetune`: supervised fine-tuning on prompt/response or chat JSONL, with LoRA or in full. */
import { readFileSync } from 'node:fs';
import { DEFAULT_LORA_TARGETS, LoraModel } from '../model/lora.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { finetune } from '../train/finetune.js';
import { copyTokenizerFiles, loadAnyModelDir, writeModelDir } from '../train/model-files.js';
import { ProgressBar } from '../train/progress.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../train/schedule.js';
import { sftExamples } from '../train/sft.js';
import { defineCommand, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';

export const finetuneCommand = defineCommand({
  name: 'finetune',
  summary: 'fine-tune a model on prompt/response or chat JSONL (LoRA or full)',
  usage: '--model <dir> --data <file.jsonl> [--lora-rank R] [--out <dir>] [options]',
  description: `
Each line of --data is {"prompt": "…", "response": "…"} (or "completion") or {"messages": [{"role", "content"}, …]}.
The loss covers only the response, or every assistant message as the chat template renders it (a
ChatML template when the tokenizer has none). With --lora-rank the base model is frozen and LoRA
adapters are trained on --lora-targets; --out then receives a PEFT adapter (adapter_config.json,
adapter_model.safetensors) that PyTorch peft loads, and 'slm export --merge-lora' folds it in.
Without --lora-rank every weight is trained and --out receives a full model directory.`,
  options: {
    model: { type: 'string', required: true, valueName: 'DIR', description: 'the base model directory' },
    data: { type: 'string', required: true, valueName: 'FILE', description: 'training examples (JSONL)' },
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
    const model = await loadAnyModelDir(o.model, backend);
    const tokenizer = await loadTokenizer(o.model);
    const maxLength = Math.min(
      o['max-length'] ?? model.config.maxPositionEmbeddings,
      model.config.maxPositionEmbeddings,
    );
    const read = (path: string) => sftExamples(tokenizer, readFileSync(path, 'utf8'), maxLength, path);
    const train = read(o.data);
    const validation = o.validation ? read(o.validation) : undefined;
    const rank = o['lora-rank'];
    if (rank !== undefined && rank < 1) throw new UsageError('--lora-rank must be at least 1');
    const targets =
      o['lora-targets']
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean) ?? DEFAULT_LORA_TARGETS;
    const seed = o.seed ?? 0;
    const lora =
      rank === undefined
        ? null
        : LoraModel.create(model, { rank, alpha: o['lora-alpha'] ?? 2 * rank, targetModules: targets }, seed);
    const steps = o.steps ?? 200;
    const progress = new ProgressBar(io.stderr as typeof process.stderr);
    io.stderr.write(
      `fine-tuning ${lora ? `LoRA r=${rank} on ${targets.join(', ')}: ${lora.numParameters().toLocaleString('en-US')}` : `all ${model.numParameters().toLocaleString('en-US')}`} parameters, ` +
        `${train.length} examples, ${steps} steps on ${backend.name}\n`,
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
        options: {
          steps,
          batchSize: o['batch-size'],
          gradAccum: o['grad-accum'],
          lr: o.lr ?? (lora ? 2e-4 : 2e-5),
          warmup: o.warmup ?? Math.round(0.05 * steps),
          schedule: o.schedule as ScheduleKind | undefined,
          clip: o.clip,
          seed,
        },
        progress,
        signal: controller.signal,
      });
      const out = o.out ?? 'slm-finetune';
      if (lora) await lora.save(out, o.model);
      else await writeModelDir(out, model, { tokenizer: tokenizer.files() });
      copyTokenizerFiles(o.model, out);
      io.stderr.write(
        `${result.interrupted ? `interrupted at step ${result.step}; ` : ''}saved ${lora ? 'the LoRA adapter' : 'the model'} to ${out}\n`,
      );
      return result.interrupted ? 130 : 0;
    } finally {
      process.off('SIGINT', onSignal);
    }
  },
});
