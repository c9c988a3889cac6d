/**
 * Finding a ModelConfig from what a user types: a preset name, a Hugging Face model directory, a
 * Hugging Face config.json (it has "model_type"; translated by the family adapters in src/families),
 * or a JSON file of our own ModelConfig fields (read with defineConfig). Reads config files only,
 * never weights.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { familyFor } from '../families/index.js';
import { defineConfig, type ModelConfig, type ModelConfigInput } from './model-config.js';
import { isPreset, presetConfig, presetNames } from './presets.js';
import { suggest } from './suggest.js';
import { ConfigError } from './validate.js';

export interface LoadedConfig {
  config: ModelConfig;
  /** What the config came from, e.g. "preset smollm2-135m" or "Hugging Face llama config ./m/config.json". */
  source: string;
  /** The HF model_type, when it came from a Hugging Face config. */
  modelType: string | null;
  /** The model directory, when `spec` was one (its checkpoint files sit next to config.json). */
  dir: string | null;
}

/** The field names of ModelConfig (those defineConfig fills), for typo checks on JSON input. */
const knownFields = new Set(Object.keys(presetConfig('tiny')));
const requiredFields = ['vocabSize', 'hiddenSize', 'numLayers', 'numAttentionHeads'] as const;

/**
 * A ModelConfig from a parsed JSON object of ModelConfig fields (camelCase, as in model-config.ts).
 * Unknown fields and missing required fields are ConfigErrors naming the field.
 */
export function modelConfigFromJSON(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(
      '(root)',
      `a model config must be a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`,
    );
  }
  const record = json as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!knownFields.has(key)) {
      const hint = suggest(key, knownFields);
      throw new ConfigError(key, `unknown field${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
  }
  for (const key of requiredFields) {
    const value = record[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new ConfigError(
        key,
        value === undefined ? 'is required' : `must be a positive integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  return defineConfig(record as ModelConfigInput);
}

/** A ModelConfig from a Hugging Face config.json object, through the family adapter of its model_type. */
export function modelConfigFromHF(hf: Record<string, unknown>): ModelConfig {
  return familyFor(String(hf.model_type)).toConfig(hf);
}

async function readJSON(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Resolves a preset name, a Hugging Face directory, or a config file to a ModelConfig. */
export async function loadModelConfig(spec: string): Promise<LoadedConfig> {
  if (isPreset(spec))
    return { config: presetConfig(spec), source: `preset ${spec}`, modelType: null, dir: null };
  const info = await stat(spec).catch(() => null);
  if (!info) {
    const names = presetNames();
    const hint = suggest(spec, names);
    throw new Error(
      `'${spec}' is neither a preset nor an existing file or directory` +
        `${hint ? ` (did you mean '${hint}'?)` : ''}; presets: ${names.join(', ')}`,
    );
  }
  let path = spec;
  if (info.isDirectory()) {
    path = join(spec, 'config.json');
    if (!(await stat(path).catch(() => null))?.isFile()) {
      throw new Error(`${spec} is a directory without config.json (expected a Hugging Face model directory)`);
    }
  }
  const json = await readJSON(path);
  if (typeof json === 'object' && json !== null && !Array.isArray(json) && 'model_type' in json) {
    const hf = json as Record<string, unknown>;
    try {
      return {
        config: modelConfigFromHF(hf),
        source: `Hugging Face ${String(hf.model_type)} config ${path}`,
        modelType: String(hf.model_type),
        dir: info.isDirectory() ? spec : null,
      };
    } catch (error) {
      // Name the file in every error of the adapters (unsupported model_type, bad fields).
      if (error instanceof Error && !error.message.includes(path))
        error.message = `${path}: ${error.message}`;
      throw error;
    }
  }
  try {
    return {
      config: modelConfigFromJSON(json),
      source: `model config ${path}`,
      modelType: null,
      dir: info.isDirectory() ? spec : null,
    };
  } catch (error) {
    if (error instanceof ConfigError) error.message = `${path}: ${error.message}`;
    throw error;
  }
}
