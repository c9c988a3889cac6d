/** `slm export`: re-save a model as a Hugging Face directory, optionally merging a LoRA adapter into it. */
import '../backend/cpu/index.js';
import { setBackend } from '../backend/backend.js';
import { saveHFModel } from '../io/hf.js';
import { LoraModel } from '../model/lora.js';
import { copyTokenizerFiles, generationConfigJson, loadAnyModelDir } from '../train/model-files.js';
import { defineCommand, UsageError } from './args.js';

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'save a model as a Hugging Face directory (merge a LoRA adapter, change dtype or family)',
  usage:
    '--model <dir> [--lora <adapter-dir> --merge-lora] --out <dir> [--dtype float32|bfloat16|float16] [--family TYPE]',
  description: `
Writes --model (a Hugging Face directory, or one made by slm train) to --out in a family's own
config.json keys and tensor layout, with its tokenizer files. With --lora and --merge-lora, the PEFT
LoRA adapter is folded into the weights first (W + (alpha/r)·B·A), so the result needs no peft.`,
  options: {
    model: { type: 'string', required: true, valueName: 'DIR', description: 'the (base) model directory' },
    lora: {
      type: 'string',
      valueName: 'DIR',
      description: 'a PEFT LoRA adapter directory (adapter_config.json)',
    },
    'merge-lora': { type: 'boolean', description: 'fold the --lora adapter into the weights' },
    out: { type: 'string', short: 'o', required: true, valueName: 'DIR', description: 'output directory' },
    dtype: {
      type: 'string',
      choices: ['float32', 'bfloat16', 'float16'],
      description: 'storage dtype of the weights (default float32)',
    },
    family: {
      type: 'string',
      valueName: 'TYPE',
      description: 'HF model_type to write (default: the first family that fits)',
    },
  },
  examples: ['slm export --model runs/brown --lora runs/chat-lora --merge-lora --out runs/chat'],
  async run({ options: o }, io) {
    if (o.lora !== undefined && !o['merge-lora'])
      throw new UsageError(
        '--lora needs --merge-lora (export writes plain models; the adapter directory is already PEFT)',
      );
    if (o['merge-lora'] && o.lora === undefined)
      throw new UsageError('--merge-lora needs --lora <adapter-dir>');
    // Exporting reads weights back synchronously; it runs on the cpu backend.
    const backend = setBackend('cpu');
    let model = await loadAnyModelDir(o.model, backend);
    if (o.lora !== undefined) {
      const lora = LoraModel.load(o.lora, model);
      model = lora.merged();
      io.stderr.write(
        `merged LoRA r=${lora.config.rank} (${lora.adapters.length} matrices) from ${o.lora}\n`,
      );
    }
    const family = saveHFModel(o.out, model, {
      family: o.family,
      dtype: o.dtype as 'float32' | 'bfloat16' | 'float16' | undefined,
      generationConfig: generationConfigJson(model.config),
    });
    copyTokenizerFiles(o.model, o.out);
    io.stderr.write(`wrote ${family.modelType} model to ${o.out}\n`);
  },
});
