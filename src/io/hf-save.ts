/**
 * Saving a model as a Hugging Face directory that `transformers` loads: config.json in the family's
 * own keys, the weights in its tensor names and fused layouts (model.safetensors, or shards with an
 * index), and generation_config.json. The directory is written under a temporary name and renamed
 * into place, so a crash leaves either the old directory or the new one.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelConfig } from '../config/model-config.js';
import type { HFConfig } from '../families/hf-config.js';
import { FAMILIES, familyFor } from '../families/registry.js';
import type { FamilyAdapter } from '../families/types.js';
import type { Transformer } from '../model/transformer.js';
import { writeAll, writeFileAtomic } from './atomic.js';
import { hfJson } from './hf-json.js';
import { exportParameters } from './hf-params.js';
import type { SafetensorsDType } from './safetensors-dtype.js';
import type { TensorToWrite } from './safetensors-write.js';
import { writeCheckpoint } from './sharded.js';

export type SaveDType = 'float32' | 'bfloat16' | 'float16';

export interface SaveHFModelOptions {
  /** Family (adapter or model_type); default: the first family that can express the config. */
  family?: FamilyAdapter | string;
  /** Storage dtype of the weights. Default float32. */
  dtype?: SaveDType;
  /** Written as generation_config.json when given. */
  generationConfig?: HFConfig | null;
  /** Largest shard in bytes (default transformers' 5 GB). */
  maxShardBytes?: number;
}

const STORAGE: Record<SaveDType, SafetensorsDType> = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' };

/** Path of the first field of `a` whose value `b` does not reproduce, or null. */
function firstDifference(a: unknown, b: unknown, path = ''): string | null {
  if (Object.is(a, b)) return null;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return path || '(root)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const va = (a as Record<string, unknown>)[key];
    const vb = (b as Record<string, unknown>)[key];
    // An optional field absent from the original means "the default", which the family may spell out.
    if (va === undefined) continue;
    const diff = firstDifference(va, vb, path ? `${path}.${key}` : key);
    if (diff !== null) return diff;
  }
  return null;
}

/** config.json of `config` in `family`'s keys, after checking the family reads back the same config. */
export function configToHF(config: ModelConfig, family: FamilyAdapter): HFConfig {
  const hf = family.fromConfig(config);
  let back: ModelConfig;
  try {
    back = family.toConfig(JSON.parse(JSON.stringify(hf)));
  } catch (err) {
    throw new Error(`${family.modelType} cannot express this config: ${(err as Error).message}`);
  }
  const diff = firstDifference(JSON.parse(JSON.stringify(config)), JSON.parse(JSON.stringify(back)));
  if (diff !== null)
    throw new Error(`${family.modelType} cannot express this config: field '${diff}' would change`);
  return hf;
}

function chooseFamily(
  config: ModelConfig,
  family: FamilyAdapter | string | undefined,
): { family: FamilyAdapter; hf: HFConfig } {
  if (family !== undefined) {
    const f = typeof family === 'string' ? familyFor(family) : family;
    return { family: f, hf: configToHF(config, f) };
  }
  const reasons: string[] = [];
  for (const f of FAMILIES) {
    try {
      return { family: f, hf: configToHF(config, f) };
    } catch (err) {
      reasons.push((err as Error).message);
    }
  }
  throw new Error(`no Hugging Face family can express this config:\n  ${reasons.join('\n  ')}`);
}

function writeJson(path: string, value: unknown): void {
  const text = hfJson(value);
  writeFileAtomic(path, (fd) => writeAll(fd, new TextEncoder().encode(text)));
}

/**
 * Writes `model` as a Hugging Face directory `dir` (replacing an existing one as a whole). Returns the
 * family used.
 */
export function saveHFModel(
  dir: string,
  model: Transformer,
  options: SaveHFModelOptions = {},
): FamilyAdapter {
  const config = model.config;
  const { family, hf } = chooseFamily(config, options.family);
  const dtype = options.dtype ?? 'float32';
  const storage = STORAGE[dtype];
  if (!storage) throw new Error(`saveHFModel: dtype must be float32, bfloat16 or float16, got '${dtype}'`);
  hf.torch_dtype = dtype;

  const tensors: Record<string, TensorToWrite> = {};
  for (const t of exportParameters(model.params, config, family)) {
    tensors[t.name] = { dtype: storage, shape: t.shape, data: t.data };
  }

  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const temp = join(parent, `.${basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(temp);
    writeJson(join(temp, 'config.json'), hf);
    if (options.generationConfig) writeJson(join(temp, 'generation_config.json'), options.generationConfig);
    writeCheckpoint(temp, tensors, { maxShardBytes: options.maxShardBytes });
    if (existsSync(dir)) {
      // Keep what else the directory holds (tokenizer files, README); weights and configs are replaced.
      for (const file of readdirSync(dir)) {
        const ours =
          file === 'config.json' ||
          file === 'generation_config.json' ||
          /^model.*\.safetensors(\.index\.json)?$/.test(file);
        if (!ours && statSync(join(dir, file)).isFile()) copyFileSync(join(dir, file), join(temp, file));
      }
      const old = `${temp}.old`;
      renameSync(dir, old);
      renameSync(temp, dir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(temp, dir);
    }
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw err;
  }
  return family;
}
