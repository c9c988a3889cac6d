/** Sampling flags shared by `slm generate` and `slm chat`, merged with generation_config.json as transformers does. */
import type { SamplingOptions } from '../generate/sampling.js';
import type { OptionSpec } from './args.js';

export const samplingOptions = {
  'max-new-tokens': {
    type: 'integer',
    valueName: 'N',
    description: 'tokens to generate at most (default: generation_config max_new_tokens, else 64)',
  },
  temperature: {
    type: 'number',
    description: '0 = greedy; > 0 samples (default: generation_config, else greedy)',
  },
  'top-k': {
    type: 'integer',
    valueName: 'K',
    description: 'keep the K most likely tokens when sampling (default 50, as transformers)',
  },
  'top-p': {
    type: 'number',
    valueName: 'P',
    description: 'nucleus sampling: keep the smallest set with probability mass P',
  },
  'min-p': { type: 'number', valueName: 'P', description: 'drop tokens below P x the top probability' },
  'repetition-penalty': { type: 'number', valueName: 'X', description: 'CTRL repetition penalty (1 = off)' },
  seed: { type: 'integer', description: 'random seed for sampling (default 0)' },
  stop: {
    type: 'string',
    repeated: true,
    valueName: 'TEXT',
    description: 'stop when this text appears',
  },
  weights: {
    type: 'string',
    choices: ['auto', 'f32', 'f16', 'bf16'],
    valueName: 'auto|f32|f16|bf16',
    description:
      'webgpu: weights the planned decode step streams; auto (default) = bf16 when lossless (a bf16 checkpoint), else f32; f16/bf16 round (half the bytes per token)',
  },
} as const satisfies Record<string, OptionSpec>;

export interface SamplingFlags {
  'max-new-tokens'?: number | undefined;
  temperature?: number | undefined;
  'top-k'?: number | undefined;
  'top-p'?: number | undefined;
  'min-p'?: number | undefined;
  'repetition-penalty'?: number | undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Flags override generation_config.json; `--temperature 0` forces greedy decoding. */
export function resolveSampling(
  flags: SamplingFlags,
  generationConfig: Record<string, unknown>,
): SamplingOptions & { maxNewTokens: number } {
  const temperature = flags.temperature ?? num(generationConfig.temperature) ?? 1;
  const doSample =
    flags.temperature !== undefined ? flags.temperature > 0 : generationConfig.do_sample === true;
  if (temperature < 0) throw new Error(`--temperature must be >= 0, got ${temperature}`);
  return {
    doSample,
    temperature: doSample ? temperature : 1,
    topK: flags['top-k'] ?? (doSample ? (num(generationConfig.top_k) ?? 50) : 0),
    topP: flags['top-p'] ?? num(generationConfig.top_p) ?? 1,
    minP: flags['min-p'] ?? num(generationConfig.min_p) ?? 0,
    repetitionPenalty: flags['repetition-penalty'] ?? num(generationConfig.repetition_penalty) ?? 1,
    maxNewTokens: flags['max-new-tokens'] ?? num(generationConfig.max_new_tokens) ?? 64,
  };
}

export function eosIds(...sources: unknown[]): number[] {
  const ids = new Set<number>();
  for (const s of sources) {
    if (Number.isInteger(s)) ids.add(s as number);
    else if (Array.isArray(s)) for (const v of s) if (Number.isInteger(v)) ids.add(v);
  }
  return [...ids];
}
