/**
 * Reading Hugging Face `config.json` objects: typed key access with errors that name the key and the
 * family, class defaults for absent keys, activation names, and RoPE settings from both config
 * generations — transformers v4 (`rope_theta`, `rope_scaling` with `type` or `rope_type`,
 * `partial_rotary_factor`) and v5 (`rope_parameters`, possibly one entry per layer type).
 */
import type { Activation, LayerType, RopeConfig, RopeScaling } from '../config/model-config.js';

export type HFConfig = Record<string, unknown>;

export class HFConfigError extends Error {
  constructor(modelType: string, key: string, reason: string) {
    super(`config.json (${modelType}): "${key}" ${reason}`);
    this.name = 'HFConfigError';
  }
}

/** Typed access to one config.json; `get*` with a default returns it when the key is absent or null. */
export class HFConfigReader {
  constructor(
    readonly raw: HFConfig,
    readonly modelType: string,
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private fail(key: string, reason: string): never {
    throw new HFConfigError(this.modelType, key, reason);
  }

  number(key: string, fallback?: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, 'is required but missing');
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      this.fail(key, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string, fallback?: number): number {
    const v = this.number(key, fallback);
    if (!Number.isInteger(v) || v < 0)
      this.fail(key, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }

  optionalNumber(key: string): number | null {
    return this.has(key) ? this.number(key) : null;
  }

  optionalInt(key: string): number | null {
    return this.has(key) ? this.int(key) : null;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, 'is required but missing');
      return fallback;
    }
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  numberList(key: string): number[] | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) {
      this.fail(key, `must be a list of numbers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  }

  /** `eos_token_id` may be one id or a list. */
  idList(key: string): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    if (typeof v === 'number') return [v];
    if (Array.isArray(v) && v.every((x) => Number.isInteger(x))) return v as number[];
    this.fail(key, `must be a token id or a list of ids, got ${JSON.stringify(v)}`);
  }

  activation(key: string, fallback?: string): Activation {
    const name = this.string(key, fallback);
    const act = activationFromHF(name);
    if (!act) {
      this.fail(
        key,
        `names activation '${name}', which slmkit does not implement (known: ${Object.keys(ACTIVATIONS).join(', ')})`,
      );
    }
    return act;
  }

  /** Special-token ids and initializer range, common to every family. */
  tokens(): {
    bosTokenId: number | null;
    eosTokenIds: number[];
    padTokenId: number | null;
    initializerRange: number;
  } {
    return {
      bosTokenId: this.optionalInt('bos_token_id'),
      eosTokenIds: this.idList('eos_token_id'),
      padTokenId: this.optionalInt('pad_token_id'),
      initializerRange: this.number('initializer_range', 0.02),
    };
  }

  /** `layer_types` (v5) as our per-layer types, or null when absent. */
  layerTypes(numLayers: number): LayerType[] | null {
    const v = this.raw.layer_types;
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.length !== numLayers) {
      this.fail('layer_types', `must list one type per layer (${numLayers}), got ${JSON.stringify(v)}`);
    }
    return v.map((t, i): LayerType => {
      if (t !== 'full_attention' && t !== 'sliding_attention') {
        this.fail(
          `layer_types[${i}]`,
          `must be "full_attention" or "sliding_attention", got ${JSON.stringify(t)}`,
        );
      }
      return t === 'full_attention' ? 'full' : 'sliding';
    });
  }
}

const ACTIVATIONS: Record<string, Activation> = {
  silu: 'silu',
  swish: 'silu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  relu: 'relu',
  relu2: 'relu2',
};

export function activationFromHF(name: string): Activation | null {
  return ACTIVATIONS[name] ?? null;
}

/** The HF name written on save for each activation (tanh-GELU spelled the family's way). */
export function activationToHF(act: Activation, geluTanhName = 'gelu_pytorch_tanh'): string {
  return act === 'gelu_tanh' ? geluTanhName : act;
}

export function layerTypesToHF(types: LayerType[]): string[] {
  return types.map((t) => (t === 'sliding' ? 'sliding_attention' : 'full_attention'));
}

type RopeDict = Record<string, unknown>;

function asDict(reader: HFConfigReader, key: string, v: unknown): RopeDict {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HFConfigError(reader.modelType, key, `must be an object, got ${JSON.stringify(v)}`);
  }
  return v as RopeDict;
}

function num(reader: HFConfigReader, key: string, dict: RopeDict, name: string): number | undefined {
  const v = dict[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number')
    throw new HFConfigError(reader.modelType, `${key}.${name}`, `must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function list(reader: HFConfigReader, key: string, dict: RopeDict, name: string): number[] | undefined {
  const v = dict[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) {
    throw new HFConfigError(
      reader.modelType,
      `${key}.${name}`,
      `must be a list of numbers, got ${JSON.stringify(v)}`,
    );
  }
  return v as number[];
}

/** Scaling from a v4 `rope_scaling` or v5 `rope_parameters` entry (null for 'default'). */
function scalingFrom(reader: HFConfigReader, key: string, dict: RopeDict): RopeScaling | null {
  const type = String(dict.rope_type ?? dict.type ?? 'default');
  const orig =
    num(reader, key, dict, 'original_max_position_embeddings') ??
    reader.optionalInt('original_max_position_embeddings') ??
    undefined;
  const factor = num(reader, key, dict, 'factor');
  const maxPos = reader.optionalInt('max_position_embeddings');
  const clean = (s: RopeScaling): RopeScaling =>
    Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as unknown as RopeScaling;
  switch (type) {
    case 'default':
      return null;
    case 'linear':
    case 'dynamic':
      if (factor === undefined)
        throw new HFConfigError(reader.modelType, `${key}.factor`, `is required for ${type} scaling`);
      return { type, factor };
    case 'llama3':
      return clean({
        type,
        factor: factor ?? 8,
        lowFreqFactor: num(reader, key, dict, 'low_freq_factor') ?? 1,
        highFreqFactor: num(reader, key, dict, 'high_freq_factor') ?? 4,
        originalMaxPositionEmbeddings: orig ?? 8192,
      });
    case 'yarn':
      return clean({
        type,
        factor: factor ?? (maxPos && orig ? maxPos / orig : 1),
        originalMaxPositionEmbeddings: orig,
        betaFast: num(reader, key, dict, 'beta_fast'),
        betaSlow: num(reader, key, dict, 'beta_slow'),
        // HF uses mscale/mscale_all_dim only when both are non-zero.
        mscale: num(reader, key, dict, 'mscale') || undefined,
        mscaleAllDim: num(reader, key, dict, 'mscale_all_dim') || undefined,
        attentionFactor: num(reader, key, dict, 'attention_factor'),
        truncate: typeof dict.truncate === 'boolean' ? dict.truncate : undefined,
      });
    case 'longrope':
    case 'su':
      return clean({
        type: 'longrope',
        factor: factor ?? 1,
        originalMaxPositionEmbeddings: orig,
        shortFactor: list(reader, key, dict, 'short_factor'),
        longFactor: list(reader, key, dict, 'long_factor'),
        attentionFactor: num(reader, key, dict, 'attention_factor'),
      });
    default:
      throw new HFConfigError(
        reader.modelType,
        `${key}.rope_type`,
        `'${String(type)}' is not supported (known: default, linear, dynamic, llama3, yarn, longrope)`,
      );
  }
}

export interface RopeDefaults {
  theta: number;
  partialRotaryFactor?: number;
  interleaved?: boolean;
  /** Legacy key names of the family (gpt_neox: rotary_emb_base / rotary_pct). */
  thetaKeys?: string[];
  partialKeys?: string[];
}

/**
 * RoPE of full-attention layers and (when it differs) of sliding layers. v5's `rope_parameters` wins
 * over the v4 keys; a per-layer-type dict gives `ropeSliding`. v4 Gemma-3 spells the local base
 * `rope_local_base_freq` (its `rope_scaling` applies to global layers only).
 */
export function ropeFromHF(
  reader: HFConfigReader,
  d: RopeDefaults,
): { rope: RopeConfig; ropeSliding: RopeConfig | null } {
  const topPartial = [...(d.partialKeys ?? []), 'partial_rotary_factor']
    .map((k) => reader.optionalNumber(k))
    .find((v) => v !== null);
  const topTheta = [...(d.thetaKeys ?? []), 'rope_theta']
    .map((k) => reader.optionalNumber(k))
    .find((v) => v !== null);
  const base = (dict: RopeDict | null, key: string): RopeConfig => ({
    theta: (dict && num(reader, key, dict, 'rope_theta')) ?? topTheta ?? d.theta,
    partialRotaryFactor:
      (dict && num(reader, key, dict, 'partial_rotary_factor')) ?? topPartial ?? d.partialRotaryFactor ?? 1,
    interleaved: d.interleaved ?? false,
    scaling: dict ? scalingFrom(reader, key, dict) : null,
  });
  const params = reader.raw.rope_parameters;
  if (params !== undefined && params !== null) {
    const dict = asDict(reader, 'rope_parameters', params);
    if ('full_attention' in dict || 'sliding_attention' in dict) {
      const full = dict.full_attention
        ? asDict(reader, 'rope_parameters.full_attention', dict.full_attention)
        : null;
      const sliding = dict.sliding_attention
        ? asDict(reader, 'rope_parameters.sliding_attention', dict.sliding_attention)
        : null;
      return {
        rope: base(full, 'rope_parameters.full_attention'),
        ropeSliding: sliding ? base(sliding, 'rope_parameters.sliding_attention') : null,
      };
    }
    return { rope: base(dict, 'rope_parameters'), ropeSliding: null };
  }
  const scaling = reader.raw.rope_scaling;
  const scalingDict =
    scaling === undefined || scaling === null ? null : asDict(reader, 'rope_scaling', scaling);
  const rope = base(scalingDict ?? {}, 'rope_scaling');
  const local = reader.optionalNumber('rope_local_base_freq');
  const ropeSliding = local !== null ? { ...rope, theta: local, scaling: null } : null;
  return { rope, ropeSliding };
}

/** v4-style `rope_scaling` object of a scaling (null when none). */
export function ropeScalingToHF(s: RopeScaling | null): Record<string, unknown> | null {
  if (!s) return null;
  const out: Record<string, unknown> = { rope_type: s.type, factor: s.factor };
  const put = (key: string, v: unknown) => {
    if (v !== undefined) out[key] = v;
  };
  // transformers requires both llama3 band factors; slmkit's defaults are 1 and 4.
  put('low_freq_factor', s.type === 'llama3' ? (s.lowFreqFactor ?? 1) : s.lowFreqFactor);
  put('high_freq_factor', s.type === 'llama3' ? (s.highFreqFactor ?? 4) : s.highFreqFactor);
  put('original_max_position_embeddings', s.originalMaxPositionEmbeddings);
  put('beta_fast', s.betaFast);
  put('beta_slow', s.betaSlow);
  put('mscale', s.mscale);
  put('mscale_all_dim', s.mscaleAllDim);
  put('attention_factor', s.attentionFactor);
  put('truncate', s.truncate);
  put('short_factor', s.shortFactor);
  put('long_factor', s.longFactor);
  return out;
}

/** Token ids back to config keys (eos as one id when there is one). */
export function tokensToHF(c: {
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  initializerRange: number;
}): HFConfig {
  return {
    bos_token_id: c.bosTokenId,
    eos_token_id:
      c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds.length === 0 ? null : c.eosTokenIds,
    pad_token_id: c.padTokenId,
    initializer_range: c.initializerRange,
  };
}
