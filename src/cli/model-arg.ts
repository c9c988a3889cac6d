/**
 * `--model <dir>` for the commands that run a model: a Hugging Face directory, or the bundled default
 * model (models/default in the package) when the option is absent.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backend/backend.js';
import { loadHFModel } from '../io/hf.js';
import type { Transformer } from '../model/transformer.js';
import { loadTokenizer } from '../tokenizer/load.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { OptionSpec } from './args.js';

/** The package root (dist/src/cli/ -> ../../..). */
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const defaultModelDir = join(packageRoot, 'models', 'default');

export const modelOption = {
  model: {
    type: 'string',
    valueName: 'DIR',
    description:
      'Hugging Face model directory (config.json, *.safetensors, tokenizer.json); default: the bundled model',
  },
} as const satisfies Record<string, OptionSpec>;

export const gpuWeightsOption = {
  'gpu-weights': {
    type: 'string',
    valueName: 'FORMAT',
    choices: ['auto', 'f32', 'bf16'],
    description:
      "webgpu: 'bf16' keeps a bf16 checkpoint's matrices bf16 on the GPU (half the memory, the same tokens; no float32 copy), 'f32' makes float32 copies; default auto: bf16 on webgpu (only exactly-bf16 matrices are kept packed)",
  },
} as const satisfies Record<string, OptionSpec>;

export function resolveModelDir(option: string | undefined): string {
  const dir = option ?? defaultModelDir;
  if (!existsSync(dir)) {
    throw new Error(
      option === undefined
        ? `the bundled default model is missing (${dir}); pass --model <dir>`
        : `model directory ${dir} does not exist`,
    );
  }
  if (!existsSync(join(dir, 'config.json')))
    throw new Error(`${dir} has no config.json: not a Hugging Face model directory`);
  return dir;
}

export interface LoadedModel {
  dir: string;
  model: Transformer;
  generationConfig: Record<string, unknown>;
}

export async function openModel(
  option: string | undefined,
  backend: Backend,
  gpuWeights: string | undefined = undefined,
): Promise<LoadedModel> {
  const dir = resolveModelDir(option);
  if (gpuWeights === 'bf16' && backend.name !== 'webgpu')
    throw new Error('--gpu-weights bf16 needs the webgpu backend (--backend webgpu)');
  const packed = gpuWeights === 'bf16' || ((gpuWeights ?? 'auto') === 'auto' && backend.name === 'webgpu');
  const loaded = await loadHFModel(dir, { backend, gpuWeights: packed ? 'bf16' : 'f32' });
  return {
    dir,
    model: loaded.model,
    generationConfig: (loaded.generationConfig ?? {}) as Record<string, unknown>,
  };
}

export async function openTokenizer(option: string | undefined): Promise<Tokenizer> {
  const dir = resolveModelDir(option);
  if (!existsSync(join(dir, 'tokenizer.json'))) {
    throw new Error(`${dir} has no tokenizer.json; pass --ids instead of text, or add the tokenizer files`);
  }
  return loadTokenizer(dir);
}
