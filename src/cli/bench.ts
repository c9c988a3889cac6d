/** `slm bench`: time to first token, prefill and decode throughput of a model or preset (random weights). */
import { loadModelConfig } from '../config/load.js';
import { benchmarkDecode } from '../generate/bench.js';
import { loadHFModel } from '../io/hf.js';
import { Transformer } from '../model/transformer.js';
import { defineCommand } from './args.js';
import { backendOption, useBackend } from './backend.js';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'measure time to first token, prefill and decode speed (random weights for presets)',
  usage: '[--model <dir|preset>] [--prompt-tokens N] [--gen-tokens N] [--runs N] [--json] [--backend …]',
  description:
    'Runs batch-1 greedy decoding as `slm generate` does: the prompt is prefilled into a fresh KV cache (time to first ' +
    'token), then one token per step with a read-back of the chosen id. Reports medians over runs, the parameter bytes ' +
    'each decoded token streams, and the bandwidth that implies. A preset name uses random weights, so nothing is downloaded.',
  options: {
    model: {
      type: 'string',
      valueName: 'DIR|PRESET',
      description: 'model directory or preset (default: the tiny preset)',
    },
    'prompt-tokens': {
      type: 'integer',
      default: 32,
      valueName: 'N',
      description: 'prompt length (default 32)',
    },
    'gen-tokens': {
      type: 'integer',
      default: 32,
      valueName: 'N',
      description: 'tokens to generate per run (default 32)',
    },
    runs: { type: 'integer', default: 3, valueName: 'N', description: 'timed runs (default 3)' },
    'decode-path': {
      type: 'string',
      choices: ['auto', 'planned', 'eager'],
      valueName: 'auto|planned|eager',
      description: 'auto (default): the planned webgpu decode step where the config allows it, else eager',
    },
    json: { type: 'boolean', description: 'print one JSON object' },
    ...backendOption,
  },
  examples: [
    'slm bench --model smollm2-135m --backend webgpu --json',
    'slm bench --model ./my-model --prompt-tokens 512',
  ],
  async run({ options }, io) {
    const backend = await useBackend(options.backend, io.env);
    const spec = options.model ?? 'tiny';
    const loaded = await loadModelConfig(spec);
    const model = loaded.dir
      ? (await loadHFModel(loaded.dir, { backend })).model
      : Transformer.init(loaded.config, { seed: 0, backend });
    const path = (options['decode-path'] ?? 'auto') as 'auto' | 'planned' | 'eager';
    const result = await benchmarkDecode(model, {
      path,
      promptTokens: options['prompt-tokens'],
      genTokens: options['gen-tokens'],
      runs: options.runs,
      onRun: (r, run) => {
        if (!options.json)
          io.stderr.write(`run ${r + 1}: first token ${run.timeToFirstTokenMs.toFixed(1)} ms\n`);
      },
    });
    const report = {
      model: spec,
      source: loaded.source,
      backend: backend.name,
      params: model.numParameters(),
      ...result,
    };
    if (options.json) {
      io.stdout.write(`${JSON.stringify(report)}\n`);
      return;
    }
    io.stdout.write(
      [
        `model ${spec} (${loaded.source}), ${(report.params / 1e6).toFixed(2)}M parameters, backend ${backend.name}`,
        `time to first token  ${result.timeToFirstTokenMs.toFixed(1)} ms (${result.promptTokens}-token prompt)`,
        `prefill              ${result.prefillTokensPerSecond.toFixed(1)} tokens/s`,
        `decode               ${result.decodeTokensPerSecond.toFixed(1)} tokens/s (${result.msPerToken.toFixed(2)} ms/token, median of ${result.runs} runs)`,
        `weights per token    ${(result.weightBytesPerToken / 1e6).toFixed(1)} MB -> ${result.achievedGBps.toFixed(1)} GB/s`,
        `decode path          ${result.path}${result.eagerReason ? ` (${result.eagerReason})` : ''}, ${result.dispatchesPerToken ?? '-'} dispatches/token`,
        '',
      ].join('\n'),
    );
  },
});
