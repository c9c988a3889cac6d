/**
 * Hugging Face checkpoints ⇄ our parameters, without the file system: the family's tensor rules
 * applied to any TensorReader (a file, a sharded directory, or bytes in memory), and loading a whole
 * model from parsed config.json and safetensors bytes (what a browser fetches).
 */
import type { Backend } from '../backend/backend.js';
import type { WebGPUBackend } from '../backend/webgpu/backend.js';
import {
  isBf16Exact,
  isPackableWeight,
  packedBf16FromWords,
  packedBf16Tensor,
} from '../backend/webgpu/packed.js';
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
import { SafetensorsBuffer, ShardedReader } from './safetensors-buffer.js';

export interface LoadHFModelOptions {
  backend?: Backend;
  /** Working dtype of the parameters (float64 only on the CPU backend). Default float32. */
  dtype?: 'float32' | 'float64';
  /**
   * 'bf16' (webgpu backend): the matrices of a bf16 checkpoint that linear layers and the embedding read
   * stay bf16 on the GPU (half the memory; no float32 copy), read by the eager kernels and streamed by
   * the planned decode as they are. Only exactly-bf16 values are packed, so nothing is rounded; other
   * tensors load as float32. Such a model runs inference only (training and LoRA need 'f32').
   * Default 'f32'.
   */
  gpuWeights?: 'f32' | 'bf16';
}

export interface LoadedHFModel {
  model: Transformer;
  config: ModelConfig;
  hfConfig: HFConfig;
  generationConfig: HFConfig | null;
  family: FamilyAdapter;
}

/** The family and ModelConfig of a parsed config.json (`where` names it in errors). */
export function familyOfConfig(
  hfConfig: HFConfig,
  where = 'config.json',
): { family: FamilyAdapter; config: ModelConfig } {
  const modelType = hfConfig.model_type;
  if (typeof modelType !== 'string')
    throw new Error(`${where}: "model_type" is missing, so the model family is unknown`);
  const family = familyFor(modelType);
  return { family, config: family.toConfig(hfConfig) };
}

/** The checkpoint name of `rule.hf` in `reader` (or one of the family's aliases), or null. */
function resolveName(reader: TensorReader, rule: TensorRule, family: FamilyAdapter): string | null {
  for (const name of [rule.hf, ...(family.aliases?.(rule.hf) ?? [])]) if (reader.has(name)) return name;
  return null;
}

/**
 * Our parameters (float32 values) from a checkpoint reader. All names and shapes are checked first;
 * tensors the config does not imply are an error, except known buffers and an unused lm_head of a
 * tied model (as transformers ignores it). `take` may consume a rule itself (returning true); the
 * parameters only such rules fill get no float32 buffer and are absent from the result.
 */
export function importParameters(
  reader: TensorReader,
  config: ModelConfig,
  family: FamilyAdapter,
  take?: (rule: TensorRule, name: string) => boolean,
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
  rules.forEach((rule, i) => {
    if (take?.(rule, names[i]!)) return;
    for (const { path } of rule.blocks)
      if (!buffers.has(path))
        buffers.set(path, new Float32Array(specs.get(path)!.shape.reduce((a, b) => a * b, 1)));
    scatterRule(rule, reader.readFloat32(names[i]!), buffers, specs);
  });
  return buffers;
}

/** The parameter a rule fills whole, as stored (one block, not transposed), or null. */
function wholeParameter(rule: TensorRule, rows: (path: string) => number): string | null {
  const block = rule.blocks[0]!;
  if (rule.blocks.length !== 1 || rule.transpose || block.start !== 0) return null;
  return block.rows === rows(block.path) ? block.path : null;
}

function checkGpuWeights(options: LoadHFModelOptions): WebGPUBackend | null {
  if (options.gpuWeights !== 'bf16') return null;
  if (options.backend?.name !== 'webgpu' || (options.dtype ?? 'float32') !== 'float32')
    throw new Error("gpuWeights 'bf16' needs the webgpu backend and float32 parameters");
  return options.backend as WebGPUBackend;
}

/**
 * A model from a checkpoint reader. With gpuWeights 'bf16', a BF16 checkpoint's matrices that stay
 * packed are uploaded as read (their bytes are the packed words), never widened to float32 on the host;
 * the other tensors load as importParameters reads them.
 */
export function modelFromReader(
  reader: TensorReader,
  config: ModelConfig,
  family: FamilyAdapter,
  options: LoadHFModelOptions = {},
): Transformer {
  const backend = checkGpuWeights(options);
  const direct = new Map<string, Tensor>();
  const specs = new Map(parameterSpecs(config).map((s) => [s.path, s]));
  const take = (rule: TensorRule, name: string) => {
    const path = wholeParameter(rule, (p) => specs.get(p)!.shape[0]!);
    if (!backend || !path || !isPackableWeight(path, rule.hfShape) || reader.info(name).dtype !== 'BF16')
      return false;
    const { bytes } = reader.readRaw(name);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    direct.set(path, packedBf16FromWords(backend, words, rule.hfShape));
    return true;
  };
  try {
    return modelFromValues(config, importParameters(reader, config, family, take), options, direct);
  } catch (error) {
    for (const t of direct.values()) t.dispose();
    throw error;
  }
}

/**
 * A model on `backend` from float32 parameter values keyed by our paths, and any parameters already
 * made (`made`: taken as they are).
 */
export function modelFromValues(
  config: ModelConfig,
  values: Map<string, Float32Array>,
  options: LoadHFModelOptions = {},
  made: ReadonlyMap<string, Tensor> = new Map(),
): Transformer {
  const params = new Map<string, Tensor>();
  const backend = checkGpuWeights(options);
  for (const spec of parameterSpecs(config)) {
    let t = made.get(spec.path);
    if (!t) {
      const data = values.get(spec.path)!;
      t =
        backend && isPackableWeight(spec.path, spec.shape) && isBf16Exact(data)
          ? packedBf16Tensor(backend, data, spec.shape)
          : tensor(data, spec.shape, { backend: options.backend, dtype: options.dtype ?? 'float32' });
    }
    t.name = spec.path;
    params.set(spec.path, t.keep());
  }
  return new Transformer(config, params);
}

export interface HFModelFiles {
  /** Parsed config.json. */
  config: HFConfig;
  /** model.safetensors, or every shard of a sharded checkpoint (any order). */
  weights: ArrayBuffer | Uint8Array | readonly (ArrayBuffer | Uint8Array)[];
  /** Parsed generation_config.json, if any. */
  generationConfig?: HFConfig | null;
}

/** Loads a model from files already in memory (e.g. fetched by a web page): no file system needed. */
export function loadHFModelFromFiles(files: HFModelFiles, options: LoadHFModelOptions = {}): LoadedHFModel {
  const { family, config } = familyOfConfig(files.config);
  const buffers = Array.isArray(files.weights) ? files.weights : [files.weights as ArrayBuffer | Uint8Array];
  const readers = buffers.map(
    (b, i) => new SafetensorsBuffer(b, buffers.length === 1 ? 'model.safetensors' : `shard ${i + 1}`),
  );
  const reader = readers.length === 1 ? readers[0]! : new ShardedReader(readers);
  return {
    model: modelFromReader(reader, config, family, options),
    config,
    hfConfig: files.config,
    generationConfig: files.generationConfig ?? null,
    family,
  };
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
