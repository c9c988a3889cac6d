/** `slm generate`: continue a prompt (text or ids), streaming the text or printing JSON. */
import { generate } from '../generate/generate.js';
import { defineCommand, parseIntList, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';
import { gpuWeightsOption, modelOption, openModel, openTokenizer } from './model-arg.js';
import { eosIds, resolveSampling, samplingOptions } from './sampling-options.js';

export const generateCommand = defineCommand({
  name: 'generate',
  summary: 'generate text from a prompt (streams to stdout)',
  usage:
    '[--model <dir>] (--prompt "…" | --ids 1,2,3) [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]',
  description:
    'Without --model the bundled default model is used. Sampling defaults come from the model’s generation_config.json ' +
    '(greedy when it has none); --temperature 0 forces greedy decoding. The prompt is encoded with the tokenizer’s special ' +
    'tokens (e.g. BOS) as transformers does by default.',
  options: {
    ...modelOption,
    ...gpuWeightsOption,
    prompt: { type: 'string', description: 'prompt text' },
    ids: {
      type: 'string',
      valueName: 'LIST',
      description: 'prompt as comma-separated token ids instead of text',
    },
    ...samplingOptions,
    json: { type: 'boolean', description: 'print {"ids": [prompt + generated], "text": generated text}' },
    truncate: {
      type: 'boolean',
      description: 'keep only the end of a prompt longer than the context instead of failing',
    },
    stats: {
      type: 'boolean',
      description:
        'print on stderr the time to the first token and the decode rate (tokens/s after the first); with --json, also in the JSON',
    },
    ...backendOption,
  },
  examples: [
    'slm generate --prompt "The jury said" --max-new-tokens 40',
    'slm generate --model ./SmolLM2-135M --ids 1,2,3 --temperature 0 --json',
  ],
  async run({ options }, io) {
    if ((options.prompt === undefined) === (options.ids === undefined))
      throw new UsageError('give exactly one of --prompt and --ids');
    const backend = await useBackend(options.backend, io.env);
    const { model, generationConfig, dir } = await openModel(options.model, backend, options['gpu-weights']);
    const tokenizer =
      options.prompt !== undefined || !options.json
        ? await openTokenizer(options.model ?? dir).catch(() => null)
        : null;
    let promptIds: number[];
    if (options.prompt !== undefined) {
      if (!tokenizer)
        throw new Error(`${dir} has no tokenizer.json, so --prompt cannot be encoded; use --ids`);
      promptIds = tokenizer.encode(options.prompt, { addSpecialTokens: true });
      if (promptIds.length === 0) throw new UsageError('the prompt is empty');
    } else {
      promptIds = parseIntList(options.ids!, 'ids');
    }
    const sampling = resolveSampling(options, generationConfig);
    const context = model.config.maxPositionEmbeddings;
    if (options.truncate && promptIds.length > context - 1) {
      promptIds = promptIds.slice(promptIds.length - Math.max(1, context - sampling.maxNewTokens));
    }
    const generated: number[] = [];
    let text = '';
    const started = performance.now();
    let firstAt = 0;
    for await (const step of generate(model, promptIds, {
      ...sampling,
      seed: options.seed ?? 0,
      eosTokenIds: eosIds(tokenizer?.eosTokenIds, generationConfig.eos_token_id, model.config.eosTokenIds),
      stopStrings: options.stop,
      planWeights: (options.weights ?? 'auto') as 'auto' | 'f32' | 'f16' | 'bf16',
      ...(tokenizer ? { tokenizer } : {}),
    })) {
      if (generated.length === 0) firstAt = performance.now();
      generated.push(step.id);
      text += step.text;
      if (!options.json) io.stdout.write(step.text);
    }
    const ended = performance.now();
    const stats = {
      promptTokens: promptIds.length,
      generatedTokens: generated.length,
      timeToFirstTokenMs: Number((firstAt - started).toFixed(1)),
      // The first token comes with the prefill; the rate is that of the tokens after it.
      decodeTokensPerSecond:
        generated.length > 1
          ? Number(((1000 * (generated.length - 1)) / (ended - firstAt)).toFixed(1))
          : null,
    };
    if (options.json)
      io.stdout.write(
        `${JSON.stringify({ ids: [...promptIds, ...generated], text, ...(options.stats ? { stats } : {}) })}\n`,
      );
    else io.stdout.write('\n');
    if (options.stats)
      io.stderr.write(
        `${stats.generatedTokens} tokens; first token ${stats.timeToFirstTokenMs} ms (${stats.promptTokens}-token prompt); ` +
          `${stats.decodeTokensPerSecond ?? '-'} tokens/s after it\n`,
      );
  },
});
