/**
 * Hugging Face model directories: `loadHFModel` reads config.json (through the family adapter of its
 * model_type), the safetensors weights (single file or sharded index; F16/BF16 widened to float32)
 * and generation_config.json; `saveHFModel` writes them back in the family's own format, atomically.
 * Every tensor's presence and shape is checked against the config before any value is read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config/model-config.js';
import type { HFConfig } from '../families/hf-config.js';
import type { FamilyAdapter } from '../families/types.js';
import type { Transformer } from '../model/transformer.js';
import { familyOfConfig, type LoadedHFModel, type LoadHFModelOptions, modelFromReader } from './hf-params.js';
import { openCheckpoint } from './sharded.js';

export {
  exportParameters,
  type HFModelFiles,
  importParameters,
  type LoadedHFModel,
  type LoadHFModelOptions,
  loadHFModelFromFiles,
} from './hf-params.js';
export { type SaveHFModelOptions, saveHFModel } from './hf-save.js';

function readJson(path: string, what: string): HFConfig {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read ${what} (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}: ${what} must be a JSON object`);
  }
  return value as HFConfig;
}

/** config.json of a model directory, with its family. */
export function readHFConfig(dir: string): {
  hfConfig: HFConfig;
  family: FamilyAdapter;
  config: ModelConfig;
} {
  const path = join(dir, 'config.json');
  if (!existsSync(dir)) throw new Error(`${dir}: no such model directory`);
  if (!existsSync(path)) throw new Error(`${dir} has no config.json: not a Hugging Face model directory`);
  const hfConfig = readJson(path, 'config.json');
  return { hfConfig, ...familyOfConfig(hfConfig, path) };
}

/** Loads a Hugging Face model directory (config.json, safetensors, generation_config.json). */
export async function loadHFModel(dir: string, options: LoadHFModelOptions = {}): Promise<LoadedHFModel> {
  const { hfConfig, family, config } = readHFConfig(dir);
  const reader = openCheckpoint(dir);
  let model: Transformer;
  try {
    model = modelFromReader(reader, config, family, options);
  } finally {
    reader.close();
  }
  const generationPath = join(dir, 'generation_config.json');
  const generationConfig = existsSync(generationPath)
    ? readJson(generationPath, 'generation_config.json')
    : null;
  return { model, config, hfConfig, generationConfig, family };
}
