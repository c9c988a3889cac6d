/**
 * A trained model as a Hugging Face directory: config.json, model.safetensors (float32),
 * generation_config.json, tokenizer.json and tokenizer_config.json, plus slmkit_config.json (our
 * ModelConfig verbatim, so any architecture of the design space round-trips exactly).
 *
 * config.json and the tensor names/layouts come from the first family adapter (src/families) that can
 * express the config exactly (a Llama-shaped config becomes `model_type: "llama"`), so `transformers`
 * loads the directory unchanged. A config no family can express is written with our parameter paths
 * and `model_type: "slmkit"`; slmkit reads it back through slmkit_config.json.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { cpuBackend } from '../backend/cpu/index.js';
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import type { HFConfig } from '../families/hf-config.js';
import { FAMILIES, familyFor } from '../families/registry.js';
import type { FamilyAdapter } from '../families/types.js';
import { writeAll, writeFileAtomic } from '../io/atomic.js';
import { exportParameters, importParameters, loadHFModel } from '../io/hf.js';
import { configToHF } from '../io/hf-save.js';
import { openCheckpoint, writeCheckpoint } from '../io/sharded.js';
import { parameterSpecs } from '../model/params.js';
import { Transformer } from '../model/transformer.js';
import { tensor } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';

export const SLMKIT_CONFIG_FILE = 'slmkit_config.json';

/** The parsed tokenizer files saved beside a model (Tokenizer.files() gives them). */
export interface TokenizerFileSet {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

function eosField(c: ModelConfig): number | number[] | null {
  if (c.eosTokenIds.length === 0) return null;
  return c.eosTokenIds.length === 1 ? c.eosTokenIds[0]! : [...c.eosTokenIds];
}

/** The first Hugging Face family that expresses `config` exactly (config.json round-trips), or null. */
export function familyOf(config: ModelConfig): { family: FamilyAdapter; hf: HFConfig } | null {
  for (const family of FAMILIES) {
    try {
      return { family, hf: configToHF(config, family) };
    } catch {
      // This family cannot express the config; try the next.
    }
  }
  return null;
}

export function generationConfigJson(c: ModelConfig): Record<string, unknown> {
  return { _from_model_config: true, bos_token_id: c.bosTokenId, eos_token_id: eosField(c) };
}

/** Writes a small JSON file atomically (temp file, fsync, rename). */
export function writeJsonFile(path: string, value: unknown): void {
  const bytes = new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  writeFileAtomic(path, (fd) => writeAll(fd, bytes));
}

export interface ModelDirOptions {
  tokenizer?: TokenizerFileSet | null;
  /** Called after each file is complete (checkpoint tests use it to simulate a crash midway). */
  onFileWritten?: (file: string) => void;
}

/** Writes `model` as a Hugging Face directory into `dir` (created if needed). */
export async function writeModelDir(
  dir: string,
  model: Transformer,
  options: ModelDirOptions = {},
): Promise<void> {
  const done = options.onFileWritten ?? (() => {});
  const config = model.config;
  const tensors: Parameters<typeof writeCheckpoint>[1] = {};
  const found = familyOf(config);
  if (found) {
    // The family's tensor names and fused layouts, gathered from host copies of the parameters.
    const host = new Map<string, Tensor>();
    for (const [path, t] of model.params)
      host.set(path, tensor(await t.data(), t.shape, { backend: cpuBackend }));
    for (const t of exportParameters(host, config, found.family))
      tensors[t.name] = { dtype: 'F32', shape: t.shape, data: t.data };
  } else {
    for (const spec of model.specs) {
      const t = model.params.get(spec.path)!;
      const data = (await t.data()) as Float32Array | Float64Array;
      tensors[spec.path] = { dtype: data instanceof Float64Array ? 'F64' : 'F32', shape: t.shape, data };
    }
  }
  writeCheckpoint(dir, tensors);
  done('model.safetensors');
  writeJsonFile(join(dir, SLMKIT_CONFIG_FILE), model.config);
  done(SLMKIT_CONFIG_FILE);
  const hf = found
    ? { ...found.hf, torch_dtype: 'float32' }
    : { architectures: ['SlmkitForCausalLM'], model_type: 'slmkit', slmkit_config: SLMKIT_CONFIG_FILE };
  writeJsonFile(join(dir, 'config.json'), hf);
  done('config.json');
  writeJsonFile(join(dir, 'generation_config.json'), generationConfigJson(model.config));
  done('generation_config.json');
  if (options.tokenizer) {
    writeJsonFile(join(dir, 'tokenizer.json'), options.tokenizer.tokenizerJson);
    done('tokenizer.json');
    writeJsonFile(join(dir, 'tokenizer_config.json'), options.tokenizer.tokenizerConfig);
    done('tokenizer_config.json');
  }
}

function readJson(path: string): any {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read JSON (${(e as Error).message})`);
  }
}

/** Whether `dir` was written by writeModelDir (has slmkit_config.json). */
export function isSlmkitModelDir(dir: string): boolean {
  return existsSync(join(dir, SLMKIT_CONFIG_FILE));
}

/** Loads a directory written by writeModelDir onto `backend` (float32). */
export function readModelDir(dir: string, backend?: Backend): Transformer {
  const path = join(dir, SLMKIT_CONFIG_FILE);
  if (!existsSync(path))
    throw new Error(`${dir} has no ${SLMKIT_CONFIG_FILE}: not a model saved by slmkit training`);
  const config = defineConfig(readJson(path));
  const modelType = readJson(join(dir, 'config.json')).model_type;
  const reader = openCheckpoint(dir);
  let values: Map<string, Float32Array>;
  try {
    if (typeof modelType === 'string' && modelType !== 'slmkit') {
      values = importParameters(reader, config, familyFor(modelType));
    } else {
      values = new Map();
      for (const spec of parameterSpecs(config)) {
        if (!reader.has(spec.path)) throw new Error(`${dir}: model.safetensors lacks '${spec.path}'`);
        values.set(spec.path, reader.readFloat32(spec.path));
      }
    }
  } finally {
    reader.close();
  }
  const params = new Map<string, Tensor>();
  for (const spec of parameterSpecs(config)) {
    const t = tensor(values.get(spec.path)!, spec.shape, { backend });
    t.name = spec.path;
    params.set(spec.path, t.keep());
  }
  return new Transformer(config, params);
}

/** Tokenizer and chat-template files copied along when a model directory is re-saved. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'tokenizer.model',
];

/** Copies the tokenizer files `from` has into `to`. */
export function copyTokenizerFiles(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const file of TOKENIZER_FILES) {
    if (existsSync(join(from, file))) copyFileSync(join(from, file), join(to, file));
  }
}

/** A model directory written by slmkit (exact ModelConfig) or any Hugging Face directory. */
export async function loadAnyModelDir(dir: string, backend?: Backend): Promise<Transformer> {
  if (isSlmkitModelDir(dir)) return readModelDir(dir, backend);
  return (await loadHFModel(dir, { backend })).model;
}
