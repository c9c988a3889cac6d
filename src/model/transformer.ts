/**
 * The one Transformer: every architecture of the design space, built from a ModelConfig. Parameters
 * live in a flat map keyed by Hugging Face Llama-style paths (see params.ts); the forward pass reads
 * them by path, so loading a checkpoint is renaming at the edges (src/families).
 */
import { type Backend, getBackend } from '../backend/backend.js';
import { executionOrder, type LayerSpec, layerSpecs, rotaryDim } from '../config/layer-plan.js';
import type { ModelConfig, RopeConfig } from '../config/model-config.js';
import {
  add,
  affine,
  crossEntropy,
  dropout,
  embedding,
  full,
  gelu,
  linear,
  randn,
  reshape,
  slice,
  softcap,
  tensor,
  zeros,
} from '../ops/index.js';
import type { DType } from '../tensor/dtype.js';
import { fmix32, Rng } from '../tensor/random.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { type AttentionContext, latentAttention, standardAttention } from './attention.js';
import { denseFFN, moeFFN } from './ffn.js';
import { KVCache } from './kv-cache.js';
import { applyNorm } from './norms.js';
import { type ParamSpec, parameterSpecs } from './params.js';
import { type RopeFrequencies, ropeFrequencies, ropeTables } from './rope.js';

export interface CreateModelOptions {
  seed?: number;
  dtype?: DType;
  backend?: Backend;
}

export interface ForwardOptions {
  /** Continue from (and extend) this cache; positions start at cache.length. */
  cache?: KVCache | null;
  /** Collects the residual stream after the embedding and after each virtual layer. */
  hiddenStates?: Tensor[];
  /**
   * Training-time dropout: with probability p, elements of the embedding output and of every
   * attention and FFN branch output are zeroed (inverted dropout; masks derived from `seed`).
   */
  dropout?: { p: number; seed: number } | null;
  /**
   * Logits for the last position only ([B, 1, vocab]): what a prefill needs, without the LM head over
   * every prompt position (for a 152k vocabulary and a 512-token prompt, 70 GFLOP and 311 MB saved).
   */
  lastPositionOnly?: boolean;
  /**
   * With lastPositionOnly, the position among this call's tokens whose logits are wanted (default the
   * last): a prompt padded to a fixed length names its last real token.
   */
  lastPosition?: number;
  /**
   * The sequence length that length-dependent RoPE scaling ('dynamic', 'longrope') sees (default the
   * cached positions plus this call's tokens): a padded prompt gives its real length.
   */
  ropeLength?: number;
}

/** The seed of dropout site `site` in a forward pass seeded with `seed`. */
function siteSeed(seed: number, site: number): number {
  return (fmix32(seed >>> 0) ^ fmix32((site + 0x632be5ab) >>> 0)) >>> 0;
}

export type TokenInput = Tensor | readonly number[] | readonly (readonly number[])[];

export class Transformer {
  readonly layers: LayerSpec[];
  /** Physical block run at each virtual layer. */
  readonly order: number[];
  readonly specs: ParamSpec[];

  /** Wraps existing parameters; every tensor the config implies must be present with its shape. */
  constructor(
    readonly config: ModelConfig,
    readonly params: Map<string, Tensor>,
  ) {
    this.layers = layerSpecs(config);
    this.order = executionOrder(config);
    this.specs = parameterSpecs(config);
    const expected = new Set<string>();
    for (const spec of this.specs) {
      expected.add(spec.path);
      const t = params.get(spec.path);
      if (!t) throw new Error(`model parameter '${spec.path}' ${formatShape(spec.shape)} is missing`);
      if (!shapesEqual(t.shape, spec.shape)) {
        throw new Error(
          `model parameter '${spec.path}' has shape ${formatShape(t.shape)}, but the config implies ${formatShape(spec.shape)}`,
        );
      }
    }
    for (const name of params.keys()) {
      if (!expected.has(name))
        throw new Error(`unexpected parameter '${name}': the config implies no such tensor`);
    }
  }

  /** A randomly initialised model (normal(0, initializerRange); output projections scaled by 1/√(2·depth)). */
  static init(
    config: ModelConfig,
    { seed = 0, dtype = 'float32', backend = getBackend() }: CreateModelOptions = {},
  ): Transformer {
    const rng = new Rng(seed);
    const depth = executionOrder(config).length;
    const params = new Map<string, Tensor>();
    for (const spec of parameterSpecs(config)) {
      const options = { dtype, backend };
      let t: Tensor;
      switch (spec.init) {
        case 'normal':
          t = randn(spec.shape, rng, config.initializerRange, options);
          break;
        case 'output':
          t = randn(spec.shape, rng, config.initializerRange / Math.sqrt(2 * depth), options);
          break;
        case 'zeros':
          t = zeros(spec.shape, options);
          break;
        case 'ones':
        case 'scalar_one':
          t = full(spec.shape, 1, options);
          break;
      }
      t.name = spec.path;
      params.set(spec.path, t.keep());
    }
    return new Transformer(config, params);
  }

  get dtype(): DType {
    return this.params.get('model.embed_tokens.weight')!.dtype;
  }

  get backend(): Backend {
    return this.params.get('model.embed_tokens.weight')!.backend;
  }

  /** Parameters in a stable order (the order of parameterSpecs). */
  parameters(): Tensor[] {
    return this.specs.map((s) => this.params.get(s.path)!);
  }

  numParameters(): number {
    return this.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Marks every parameter as trainable (gradients accumulate into .grad). */
  requireGrad(flag = true): this {
    for (const t of this.params.values()) t.requiresGrad = flag;
    return this;
  }

  /** A KV cache for `capacity` positions (default: the context, at most 2048). */
  newCache(capacity = Math.min(this.config.maxPositionEmbeddings, 2048)): KVCache {
    return new KVCache(
      this.order.length,
      capacity,
      this.order.map((physical) => this.layers[physical]!.window),
    );
  }

  private param = (path: string): Tensor => {
    const t = this.params.get(path);
    if (!t) throw new Error(`model parameter '${path}' is missing`);
    return t;
  };

  private optional = (path: string): Tensor | null => this.params.get(path) ?? null;

  private toIds(input: TokenInput): Tensor {
    if (!Array.isArray(input)) {
      const t = input as Tensor;
      if (t.dtype !== 'int32') throw new Error(`token ids must be int32, got ${t.describe()}`);
      return t.rank === 1 ? reshape(t, [1, t.shape[0]!]) : t;
    }
    const rows = (Array.isArray(input[0]) ? input : [input]) as readonly (readonly number[])[];
    const length = rows[0]?.length ?? 0;
    if (length === 0) throw new Error('the token sequence is empty');
    if (rows.some((r) => r.length !== length))
      throw new Error('all sequences in a batch must have the same length');
    const data = new Int32Array(rows.length * length);
    rows.forEach((r, i) => {
      data.set(r, i * length);
    });
    return tensor(data, [rows.length, length], { backend: this.backend });
  }

  /** Final-normed hidden states [B, T, d]. */
  hidden(
    input: TokenInput,
    { cache = null, hiddenStates, dropout: drop = null, ropeLength }: ForwardOptions = {},
  ): Tensor {
    const c = this.config;
    const ids = this.toIds(input);
    const seq = ids.shape[1]!;
    const start = cache?.length ?? 0;
    if (c.positionEmbedding === 'learned' && start + seq > c.maxPositionEmbeddings) {
      throw new Error(
        `${start + seq} positions exceed the model's context of ${c.maxPositionEmbeddings} (maxPositionEmbeddings)`,
      );
    }
    let x = embedding(this.param('model.embed_tokens.weight'), ids); // [B, T, d]
    if (c.embeddingScale !== null) x = affine(x, c.embeddingScale, 0);
    if (c.positionEmbedding === 'learned') {
      const positions = tensor(
        Int32Array.from({ length: seq }, (_, i) => start + i),
        [seq],
        { backend: this.backend },
      );
      x = add(x, embedding(this.param('model.embed_positions.weight'), positions));
    }
    const regularise = (t: Tensor, site: number) =>
      drop && drop.p > 0 ? dropout(t, drop.p, siteSeed(drop.seed, site)) : t;
    x = regularise(x, 0);
    hiddenStates?.push(x);

    const tables = new Map<RopeConfig, { cos: Tensor; sin: Tensor; freqs: RopeFrequencies }>();
    const ctx: AttentionContext = {
      cache,
      slot: 0,
      ropeTables: (layer) => {
        if (!layer.rope) return null;
        let entry = tables.get(layer.rope);
        if (!entry) {
          const freqs = ropeFrequencies(
            layer.rope,
            rotaryDim(c, layer.rope),
            c.maxPositionEmbeddings,
            ropeLength ?? start + seq,
          );
          entry = { ...ropeTables(freqs, start, seq, this.dtype, this.backend), freqs };
          tables.set(layer.rope, entry);
        }
        return entry;
      },
    };
    this.order.forEach((physical, slot) => {
      ctx.slot = slot;
      x = this.block(x, this.layers[physical]!, ctx, (t, branch) => regularise(t, 1 + 2 * slot + branch));
      hiddenStates?.push(x);
    });
    if (cache) cache.length = start + seq;
    x = applyNorm(x, 'model.norm', c.norm, this.optional);
    return x;
  }

  /** Logits [B, T, vocab] (float, on the model's backend). */
  forward(input: TokenInput, options: ForwardOptions = {}): Tensor {
    const c = this.config;
    let x = this.hidden(input, options);
    const seq = x.shape[1]!;
    if (options.lastPositionOnly && seq > 1) {
      const at = options.lastPosition ?? seq - 1;
      if (!Number.isInteger(at) || at < 0 || at >= seq)
        throw new Error(`lastPosition ${at} is outside the ${seq} tokens of this call`);
      x = slice(x, 1, at, at + 1);
    }
    if (c.logitScale !== null) x = affine(x, c.logitScale, 0);
    const head = c.tieWordEmbeddings ? this.param('model.embed_tokens.weight') : this.param('lm_head.weight');
    let logits = linear(x, head, c.lmHeadBias ? this.param('lm_head.bias') : null);
    if (c.finalLogitSoftcap !== null) logits = softcap(logits, c.finalLogitSoftcap);
    return logits;
  }

  /** Mean next-token cross-entropy of `targets` [B, T] (int32; ignoreIndex −100 skips a position). */
  loss(input: TokenInput, targets: Tensor, ignoreIndex = -100, options: ForwardOptions = {}): Tensor {
    const logits = this.forward(input, options);
    return crossEntropy(logits, targets, { ignoreIndex });
  }

  private block(
    x: Tensor,
    layer: LayerSpec,
    ctx: AttentionContext,
    regularise: (branch: Tensor, which: 0 | 1) => Tensor,
  ): Tensor {
    const c = this.config;
    const p = `model.layers.${layer.index}`;
    const norm = (h: Tensor, name: string) => applyNorm(h, `${p}.${name}`, c.norm, this.optional);
    const attend = (h: Tensor) =>
      (c.mla ? latentAttention : standardAttention)(
        h,
        `${p}.self_attn`,
        layer,
        c,
        ctx,
        this.param,
        this.optional,
      );
    const feed = (h: Tensor) =>
      layer.moe
        ? moeFFN(h, `${p}.mlp`, c, this.param, this.optional)
        : denseFFN(h, `${p}.mlp`, c, this.param, this.optional);
    // Each branch's output: dropout (training), then the residual scale (MiniCPM), before the add.
    const branch = (h: Tensor, which: 0 | 1) => {
      const out = regularise(h, which);
      return c.residualScale !== null ? affine(out, c.residualScale, 0) : out;
    };

    if (c.blockTopology === 'parallel') {
      const h = norm(x, 'input_layernorm');
      return add(add(x, branch(attend(h), 0)), branch(feed(h), 1));
    }
    if (c.blockTopology === 'parallel_two_norms') {
      return add(
        add(x, branch(attend(norm(x, 'input_layernorm')), 0)),
        branch(feed(norm(x, 'post_attention_layernorm')), 1),
      );
    }
    let attn: Tensor;
    if (c.normPlacement === 'pre') attn = attend(norm(x, 'input_layernorm'));
    else if (c.normPlacement === 'sandwich')
      attn = norm(attend(norm(x, 'input_layernorm')), 'post_attention_layernorm');
    else attn = norm(attend(x), 'post_attention_layernorm');
    let y = add(x, branch(attn, 0));
    if (c.augmentedShortcuts) {
      // PanGu-π augmented shortcuts: Σ_j up_j(GELU(down_j(x))) beside the identity shortcut of attention.
      for (let j = 0; j < c.augmentedShortcuts.count; j++) {
        const s = `${p}.aug_shortcuts.${j}`;
        y = add(y, linear(gelu(linear(x, this.param(`${s}.down.weight`))), this.param(`${s}.up.weight`)));
      }
    }
    let ffn: Tensor;
    if (c.normPlacement === 'pre') ffn = feed(norm(y, 'post_attention_layernorm'));
    else if (c.normPlacement === 'sandwich')
      ffn = norm(feed(norm(y, 'pre_feedforward_layernorm')), 'post_feedforward_layernorm');
    else ffn = norm(feed(y), 'post_feedforward_layernorm');
    return add(y, branch(ffn, 1));
  }

  /** Frees every parameter (and gradient). */
  dispose(): void {
    for (const t of this.params.values()) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
