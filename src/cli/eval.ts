/** `slm eval`: token- and word-level perplexity of a model on a text. */
import type { Backend } from '../backend/backend.js';
import { perplexity } from '../eval/perplexity.js';
import type { Transformer } from '../model/transformer.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { isSlmkitModelDir, readModelDir } from '../train/model-files.js';
import { documentsOf } from '../train/setup.js';
import { defineCommand, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';
import { gpuWeightsOption, openModel } from './model-arg.js';

async function loadModel(
  option: string | undefined,
  backend: Backend,
  gpuWeights: string | undefined,
): Promise<{ dir: string; model: Transformer }> {
  // Models saved by slmkit training carry their exact ModelConfig; anything else (and the bundled
  // default model) goes through the Hugging Face loader (bf16 matrices kept bf16 on webgpu by default).
  if (option !== undefined && isSlmkitModelDir(option))
    return { dir: option, model: readModelDir(option, backend) };
  return openModel(option, backend, gpuWeights);
}

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'perplexity of a model on a text (token- and word-level)',
  usage: '[--model <dir>] --data <file> [--context N] [--stride N] [--json]',
  description: `
Scores every token of the text once, in windows of the model's context that slide by --stride (each
window re-reads context - stride tokens of history). Word perplexity is exp(total NLL / whitespace-
separated words), comparable across tokenizers. --data may be a text file, a .jsonl file (documents
from its "text" field), a folder of .txt/.md files, or brown:test / brown:validation; several
documents are joined with blank lines.`,
  options: {
    model: {
      type: 'string',
      valueName: 'DIR',
      description:
        'model directory (Hugging Face layout, or one written by slm train); default: the bundled model',
    },
    data: { type: 'string', required: true, valueName: 'PATH', description: 'the text to score' },
    context: { type: 'integer', description: "window length (default: the model's maxPositionEmbeddings)" },
    stride: { type: 'integer', description: 'tokens each window advances (default: half the window)' },
    'batch-size': { type: 'integer', description: 'windows per forward pass (default 8)' },
    json: { type: 'boolean', description: 'print {"tokenPerplexity", "wordPerplexity", …} on stdout' },
    ...gpuWeightsOption,
    ...backendOption,
  },
  examples: ['slm eval --model runs/brown --data brown:test --json'],
  async run({ options }, io) {
    const backend = await useBackend(options.backend, io.env);
    if (options.context !== undefined && options.context < 2)
      throw new UsageError('--context must be at least 2');
    const { dir, model } = await loadModel(options.model, backend, options['gpu-weights']);
    const tokenizer = await loadTokenizer(dir);
    const text = documentsOf([options.data]).join('\n\n');
    const started = performance.now();
    const result = await perplexity(model, tokenizer, text, {
      contextLength: options.context,
      stride: options.stride,
      batchSize: options['batch-size'],
    });
    const seconds = (performance.now() - started) / 1000;
    if (options.json) {
      io.stdout.write(`${JSON.stringify({ ...result, seconds })}\n`);
    } else {
      io.stdout.write(
        `token perplexity ${result.tokenPerplexity.toFixed(3)}  word perplexity ${result.wordPerplexity.toFixed(3)}\n` +
          `(${result.tokens} tokens, ${result.words} words, ${result.windows} windows, ${seconds.toFixed(1)} s)\n`,
      );
    }
  },
});
