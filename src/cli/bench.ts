/** `slm bench`: time to first token, prefill and decode throughput of a model or preset (random weights). */
import { loadModelConfig } from '../config/load.js';
import { benchmarkDecode, measureCopyBandwidth, settleSteps } from '../generate/bench.js';
import { DecodePlan } from '../generate/decode-plan.js';
import type { StepProfile } from '../generate/decode-plan-profile.js';
import { loadHFModel } from '../io/hf.js';
import { benchmarkModel } from '../model/random-weights.js';
import { defineCommand, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';
import { gpuWeightsOption } from './model-arg.js';

/** The step profile as text: host vs GPU per step, then GPU time per dispatch kind. */
function profileLines(p: StepProfile): string[] {
  const lines = [
    `step profile         host encode+submit ${p.hostMs.toFixed(3)} ms, back-to-back period ${p.streamMs.toFixed(3)} ms` +
      (p.gpuMs === null ? ' (no timestamp queries on this adapter)' : `, GPU ${p.gpuMs.toFixed(3)} ms`),
  ];
  for (const [label, { count, ms }] of Object.entries(p.byLabel ?? {}))
    lines.push(
      `  ${label.padEnd(36)} ${String(count).padStart(4)} × ${(ms / count).toFixed(4)} ms (alone, repeated)`,
    );
  return lines;
}

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'measure time to first token, prefill and decode speed (random weights for presets)',
  usage:
    '[--model <dir|preset>] [--prompt-tokens N] [--gen-tokens N] [--runs N] [--weights auto|f32|f16|bf16] [--json] [--backend …]',
  description:
    'Runs batch-1 greedy decoding as `slm generate` does: the prompt is prefilled into a fresh KV cache (time to first ' +
    'token), then one token per step with a read-back of the chosen id. Reports medians over runs, the parameter bytes ' +
    'each decoded token streams, and the bandwidth that implies next to the copy bandwidth measured on the same device ' +
    '(the ceiling for streaming weights); what the step takes beyond that streaming is the fixed overhead per token. ' +
    'A preset name uses random weights, so nothing is downloaded.',
  options: {
    ...gpuWeightsOption,
    model: {
      type: 'string',
      valueName: 'DIR|PRESET',
      description: 'model directory or preset (default: the tiny preset)',
    },
    'prompt-tokens': {
      type: 'integer',
      default: 32,
      valueName: 'N',
      description: 'prompt length',
    },
    'gen-tokens': {
      type: 'integer',
      default: 32,
      valueName: 'N',
      description: 'tokens to generate per run',
    },
    runs: { type: 'integer', default: 3, valueName: 'N', description: 'timed runs' },
    ahead: {
      type: 'integer',
      valueName: 'N',
      description:
        'planned webgpu step: steps kept submitted ahead of the token read back (1-8; default 5; tokens read back in batches of one fewer)',
    },
    weights: {
      type: 'string',
      choices: ['auto', 'f32', 'f16', 'bf16'],
      valueName: 'auto|f32|f16|bf16',
      description:
        'planned webgpu step: storage of the matvec weights (16-bit halves the bytes per token; default auto: bf16 where that is lossless, else f32)',
    },
    'decode-path': {
      type: 'string',
      choices: ['auto', 'planned', 'eager'],
      valueName: 'auto|planned|eager',
      description: 'auto (default): the planned webgpu decode step where the config allows it, else eager',
    },
    'shared-bindings': {
      type: 'string',
      choices: ['auto', 'on', 'off'],
      valueName: 'auto|on|off',
      description:
        "planned webgpu step: bind groups shared across the step's dispatches, less host time a dispatch (auto, the default: on where a dispatch streams at most 16 MB of weights; docs/decode.md)",
    },
    'steps-per-submit': {
      type: 'integer',
      valueName: 'N',
      description: 'planned webgpu step: steps to a command buffer, 1 or 2 (default 2)',
    },
    profile: {
      type: 'boolean',
      description:
        'planned webgpu step: also split a step into host encode+submit time and GPU time (timestamp queries), per dispatch kind',
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
    const requested = options['gpu-weights'] ?? 'auto';
    if (requested === 'bf16' && (backend.name !== 'webgpu' || !loaded.dir))
      throw new UsageError(
        '--gpu-weights bf16 needs the webgpu backend and a model directory (a bf16 checkpoint)',
      );
    const gpuWeights =
      requested === 'bf16' || (requested === 'auto' && backend.name === 'webgpu') ? 'bf16' : 'f32';
    const model = loaded.dir
      ? (await loadHFModel(loaded.dir, { backend, gpuWeights })).model
      : benchmarkModel(loaded.config, backend);
    const path = (options['decode-path'] ?? 'auto') as 'auto' | 'planned' | 'eager';
    const perSubmit = options['steps-per-submit'];
    if (perSubmit !== undefined && perSubmit !== 1 && perSubmit !== 2)
      throw new UsageError(`--steps-per-submit must be 1 or 2, got ${perSubmit}`);
    const result = await benchmarkDecode(model, {
      path,
      promptTokens: options['prompt-tokens'],
      genTokens: options['gen-tokens'],
      runs: options.runs,
      planWeights: (options.weights ?? 'auto') as 'auto' | 'f32' | 'f16' | 'bf16',
      ...(options.ahead !== undefined ? { planAhead: options.ahead } : {}),
      ...(options['shared-bindings'] === 'on' || options['shared-bindings'] === 'off'
        ? { planSharedBindings: options['shared-bindings'] === 'on' }
        : {}),
      ...(perSubmit !== undefined ? { planStepsPerSubmit: perSubmit as 1 | 2 } : {}),
      onRun: (r, run) => {
        if (!options.json)
          io.stderr.write(`run ${r + 1}: first token ${run.timeToFirstTokenMs.toFixed(1)} ms\n`);
      },
    });
    const copyGBps = await measureCopyBandwidth(backend);
    let profile: StepProfile | null = null;
    if (options.profile && result.path === 'planned') {
      const plan = await DecodePlan.create(model, result.promptTokens + result.genTokens, {
        weights: result.planWeights,
        sharedBindings: result.planSharedBindings,
      });
      try {
        const prompt = Array.from(
          { length: result.promptTokens },
          (_, i) => (i * 7919 + 1) % model.config.vocabSize,
        );
        const { token } = await plan.prefill(prompt);
        await plan.step(token);
        profile = await plan.profile();
      } finally {
        plan.dispose();
      }
    }
    // What a step takes beyond streaming its weights once at the copy bandwidth.
    const streamMs = result.weightBytesPerToken / copyGBps / 1e6;
    const report = {
      model: spec,
      source: loaded.source,
      backend: backend.name,
      params: model.numParameters(),
      ...result,
      copyGBps,
      fractionOfCopyBandwidth: result.achievedGBps / copyGBps,
      overheadMsPerToken: Math.max(0, result.msPerToken - streamMs),
      ...(profile ? { profile } : {}),
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
        `                     first decode step ${result.firstDecodeStepMs.toFixed(2)} ms${result.steadyMsPerToken === null ? '' : `, ${result.steadyMsPerToken.toFixed(3)} ms/token after ${settleSteps} (${(1000 / result.steadyMsPerToken).toFixed(1)} tokens/s)`}`,
        `weights per token    ${(result.weightBytesPerToken / 1e6).toFixed(1)} MB (${result.planWeights}) -> ${result.achievedGBps.toFixed(1)} GB/s, ${(100 * report.fractionOfCopyBandwidth).toFixed(1)}% of the ${copyGBps.toFixed(0)} GB/s copy bandwidth measured here`,
        `fixed overhead       ${report.overheadMsPerToken.toFixed(2)} ms/token beyond streaming the weights (${streamMs.toFixed(3)} ms)`,
        `decode path          ${result.path}${result.eagerReason ? ` (${result.eagerReason})` : ''}, ${result.dispatchesPerToken ?? '-'} dispatches/token${result.planStepsPerSubmit ? `, ${result.planStepsPerSubmit} steps a command buffer${result.planSharedBindings ? ', shared bind groups' : ''}` : ''}`,
        ...(profile ? profileLines(profile) : []),
        '',
      ].join('\n'),
    );
  },
});
