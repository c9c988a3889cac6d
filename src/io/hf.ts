/**
 * Hugging Face model directories: `loadHFModel` reads config.json (through the family adapter of its
 * model_type), the safetensors weights (single file or sharded index; F16/BF16 widened to float32)
 * and generation_config.json; `saveHFModel` writes them back in the family's own format, atomically.
 * Every tensor's presence and shape is checked against the config before any value is read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { ModelConfig } from '../config/model-config.js';
import type { HFConfig } from '../families/hf-config.js';
import { familyFor } from '../families/registry.js';
import { gatherRule, scatterRule, type TensorRule } from '../families/tensor-map.js';
import { COMMON_BUFFERS, type FamilyAdapter } from '../families/types.js';
import { parameterSpecs } from '../model/params.js';
import { Transformer } from '../model/transformer.js';
import { tensor } from '../ops/index.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TensorReader } from './safetensors.js';
import { openCheckpoint } from './sharded.js';

export { type SaveHFModelOptions, saveHFModel } from './hf-save.js';

export interface LoadHFModelOptions {
  backend?: Backend;
  /** Working dtype of the parameters (float64 only on the CPU backend). Default float32. */
  dtype?: 'float32' | 'float64';
}

export interface LoadedHFModel {
  model: Transformer;
  config: ModelConfig;
  hfConfig: HFConfig;
  generationConfig: HFConfig | null;
  family: FamilyAdapter;
}

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
  const modelType = hfConfig.model_type;
  if (typeof modelType !== 'string')
    throw new Error(`${path}: "model_type" is missing, so the model family is unknown`);
  const family = familyFor(modelType);
  return { hfConfig, family, config: family.toConfig(hfConfig) };
}

/** The checkpoint name of `rule.hf` in `reader` (or one of the family's aliases), or null. */
function resolveName(reader: TensorReader, rule: TensorRule, family: FamilyAdapter): string | null {
  for (const name of [rule.hf, ...(family.aliases?.(rule.hf) ?? [])]) if (reader.has(name)) return name;
  return null;
}

/**
 * Our parameters (float32 values) from a checkpoint reader. All names and shapes are checked first;
 * tensors the config does not imply are an error, except known buffers and an unused lm_head of a
 * tied model (as transformers ignores it).
 */
export function importParameters(
  reader: TensorReader,
  config: ModelConfig,
  family: FamilyAdapter,
): Map<string, Float32Array> {
  const rules = family.tensorRules(config);
  const names = rules.map((rule) => {
    const name = resolveName(reader, rule, family);
    const owners = rule.blocks.map((b) => b.path).filter((p, i, all) => all.indexOf(p) === i);
    if (name === null) {
      throw new Error(
        `checkpoint tensor '${rule.hf}' ${formatShape(rule.hfShape)} is missing (it holds ${owners.join(', ')})`,
      );
    }
    const shape = reader.info(name).shape;
    if (!shapesEqual(shape, rule.hfShape)) {
      throw new Error(
        `checkpoint tensor '${name}' has shape ${formatShape(shape)}, but config.json implies ${formatShape(rule.hfShape)}`,
      );
    }
    return name;
  });
  const used = new Set(names);
  for (const name of reader.names()) {
    if (used.has(name) || COMMON_BUFFERS.test(name) || family.ignore?.test(name)) continue;
    if (config.tieWordEmbeddings && name === 'lm_head.weight') continue;
    throw new Error(
      `checkpoint tensor '${name}' is not part of this ${family.modelType} model (config.json implies no such tensor)`,
    );
  }
  const specs = new Map(parameterSpecs(config).map((s) => [s.path, s]));
  const buffers = new Map<string, Float32Array>();
  for (const [path, spec] of specs)
    buffers.set(path, new Float32Array(spec.shape.reduce((a, b) => a * b, 1)));
  rules.forEach((rule, i) => {
    scatterRule(rule, reader.readFloat32(names[i]!), buffers, specs);
  });
  return buffers;
}

/** Loads a Hugging Face model directory (config.json, safetensors, generation_config.json). */
export async function loadHFModel(dir: string, options: LoadHFModelOptions = {}): Promise<LoadedHFModel> {
  const { hfConfig, family, config } = readHFConfig(dir);
  const reader = openCheckpoint(dir);
  let values: Map<string, Float32Array>;
  try {
    values = importParameters(reader, config, family);
  } finally {
    reader.close();
  }
  const params = new Map<string, Tensor>();
  for (const spec of parameterSpecs(config)) {
    const t = tensor(values.get(spec.path)!, spec.shape, {
      backend: options.backend,
      dtype: options.dtype ?? 'float32',
    });
    t.name = spec.path;
    params.set(spec.path, t.keep());
  }
  const generationPath = join(dir, 'generation_config.json');
  const generationConfig = existsSync(generationPath)
    ? readJson(generationPath, 'generation_config.json')
    : null;
  return { model: new Transformer(config, params), config, hfConfig, generationConfig, family };
}

/** Checkpoint tensors (float32 values, HF names and layouts) of a model's parameters. */
export function exportParameters(
  params: Map<string, Tensor>,
  config: ModelConfig,
  family: FamilyAdapter,
): { name: string; shape: number[]; data: Float32Array }[] {
  const specs = new Map(parameterSpecs(config).map((s) => [s.path, s]));
  const cache = new Map<string, ArrayLike<number>>();
  const values = (path: string) => {
    let v = cache.get(path);
    if (!v) {
      const t = params.get(path);
      if (!t) throw new Error(`model parameter '${path}' is missing`);
      v = t.dataSync();
      cache.set(path, v);
    }
    return v;
  };
  return family.tensorRules(config).map((rule) => ({
    name: rule.hf,
    shape: rule.hfShape,
    data: gatherRule(rule, values, specs),
  }));
}
