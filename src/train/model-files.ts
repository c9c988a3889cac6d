/**
 * A trained model as a Hugging Face directory: config.json, model.safetensors (float32, tensor names =
 * our parameter paths, which are the HF Llama names), generation_config.json, tokenizer.json and
 * tokenizer_config.json, plus slmkit_config.json (our ModelConfig verbatim, so any architecture of the
 * design space round-trips exactly).
 *
 * config.json: a Llama-shaped ModelConfig is written as `model_type: "llama"`, which `transformers`
 * loads unchanged. Other architectures get `model_type: "slmkit"` until the family adapters
 * (src/families) take over this conversion; slmkit itself reads slmkit_config.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { defineConfig, type ModelConfig } from '../config/model-config.js';
import { writeAll, writeFileAtomic } from '../io/atomic.js';
import { openCheckpoint, writeCheckpoint } from '../io/sharded.js';
import { parameterSpecs } from '../model/params.js';
import { Transformer } from '../model/transformer.js';
import { tensor } from '../ops/index.js';

export const SLMKIT_CONFIG_FILE = 'slmkit_config.json';

/** The parsed tokenizer files saved beside a model (Tokenizer.files() gives them). */
export interface TokenizerFileSet {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** Whether `transformers`' LlamaForCausalLM computes exactly what our Transformer does for `c`. */
export function isLlamaShaped(c: ModelConfig): boolean {
  const b = c.attentionBias;
  return (
    c.norm.type === 'rmsnorm' &&
    !c.norm.plusOne &&
    c.norm.affine &&
    c.normPlacement === 'pre' &&
    c.blockTopology === 'sequential' &&
    c.ffnType === 'gated' &&
    c.hiddenAct === 'silu' &&
    c.positionEmbedding === 'rope' &&
    c.rope.partialRotaryFactor === 1 &&
    !c.rope.interleaved &&
    c.rope.scaling === null &&
    c.ropeSliding === null &&
    c.noRopeLayers.length === 0 &&
    b.q === b.k &&
    b.k === b.v &&
    b.v === b.o &&
    c.qkNorm === null &&
    c.attentionScale === null &&
    c.attnLogitSoftcap === null &&
    c.layerTypes.every((t) => t === 'full') &&
    c.mla === null &&
    c.moe === null &&
    c.perLayer === null &&
    c.layerScaling === null &&
    c.seriesActivation === null &&
    c.augmentedShortcuts === null &&
    !c.lmHeadBias &&
    c.embeddingScale === null &&
    c.residualScale === null &&
    c.logitScale === null &&
    c.finalLogitSoftcap === null &&
    c.layerSharing === null
  );
}

function eosField(c: ModelConfig): number | number[] | null {
  if (c.eosTokenIds.length === 0) return null;
  return c.eosTokenIds.length === 1 ? c.eosTokenIds[0]! : [...c.eosTokenIds];
}

/** The Hugging Face config.json object for a ModelConfig. */
export function hfConfigJson(c: ModelConfig): Record<string, unknown> {
  if (!isLlamaShaped(c)) {
    return { architectures: ['SlmkitForCausalLM'], model_type: 'slmkit', slmkit_config: SLMKIT_CONFIG_FILE };
  }
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_act: 'silu',
    rms_norm_eps: c.norm.eps,
    rope_theta: c.rope.theta,
    rope_scaling: null,
    attention_bias: c.attentionBias.q,
    attention_dropout: 0,
    mlp_bias: c.mlpBias,
    tie_word_embeddings: c.tieWordEmbeddings,
    initializer_range: c.initializerRange,
    bos_token_id: c.bosTokenId,
    eos_token_id: eosField(c),
    pad_token_id: c.padTokenId,
    torch_dtype: 'float32',
  };
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
  const tensors: Parameters<typeof writeCheckpoint>[1] = {};
  for (const spec of model.specs) {
    const t = model.params.get(spec.path)!;
    const data = await t.data();
    tensors[spec.path] = {
      dtype: data instanceof Float64Array ? 'F64' : 'F32',
      shape: t.shape,
      data: data as Float32Array | Float64Array,
    };
  }
  writeCheckpoint(dir, tensors);
  done('model.safetensors');
  writeJsonFile(join(dir, SLMKIT_CONFIG_FILE), model.config);
  done(SLMKIT_CONFIG_FILE);
  writeJsonFile(join(dir, 'config.json'), hfConfigJson(model.config));
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
  const reader = openCheckpoint(dir);
  try {
    const params = new Map();
    for (const spec of parameterSpecs(config)) {
      if (!reader.has(spec.path)) throw new Error(`${dir}: model.safetensors lacks '${spec.path}'`);
      const t = tensor(reader.readFloat32(spec.path), spec.shape, { backend });
      t.name = spec.path;
      params.set(spec.path, t.keep());
    }
    return new Transformer(config, params);
  } finally {
    reader.close();
  }
}
