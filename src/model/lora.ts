/**
 * LoRA (Hu et al. 2021): a frozen weight W [out, in] of a chosen projection gets a trainable low-rank
 * update, W' = W + (α / r)·B·A with A [r, in] and B [out, r]; B starts at zero, so training starts from
 * the base model exactly.
 *
 * The Transformer reads its weights by path, so the adapters are applied by substitution: for the
 * duration of a forward pass (`withAdapters`) each adapted path maps to the differentiable tensor
 * W + s·B·A, and gradients flow to A and B only. That costs one [out, r]·[r, in] product per adapted
 * matrix per step (independent of the number of tokens) and needs no change to the model code.
 *
 * Saved in PEFT's layout: adapter_config.json and adapter_model.safetensors with tensors named
 * `base_model.model.<module>.lora_A.weight` / `lora_B.weight`, where <module> is the Hugging Face
 * module path (our parameter paths are the HF Llama-family names, so this holds for llama, qwen2/3,
 * gemma*, olmo2, … whose projections are not fused).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAll, writeFileAtomic } from '../io/atomic.js';
import { openSafetensors } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { add, affine, matmul, noGrad, tensor, uniform, zeros } from '../ops/index.js';
import { Rng } from '../tensor/random.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import { Transformer } from './transformer.js';

export const LORA_CONFIG_FILE = 'adapter_config.json';
export const LORA_WEIGHTS_FILE = 'adapter_model.safetensors';
/** Projections adapted by default (PEFT's default for Llama: q_proj and v_proj). */
export const DEFAULT_LORA_TARGETS = ['q_proj', 'v_proj'];

export interface LoraConfig {
  rank: number;
  /** Scale numerator: the update is (alpha / rank)·B·A. PEFT's lora_alpha. */
  alpha: number;
  /** Module names (last path component before `.weight`), e.g. q_proj, k_proj, v_proj, o_proj, up_proj. */
  targetModules: string[];
}

export interface LoraAdapter {
  /** Our parameter path of W, e.g. model.layers.0.self_attn.q_proj.weight. */
  path: string;
  /** HF module path, e.g. model.layers.0.self_attn.q_proj. */
  module: string;
  a: Tensor; // [r, in]
  b: Tensor; // [out, r]
}

export class LoraModel {
  readonly adapters: LoraAdapter[];
  readonly scale: number;

  private constructor(
    readonly base: Transformer,
    readonly config: LoraConfig,
    adapters: LoraAdapter[],
  ) {
    this.adapters = adapters;
    this.scale = config.alpha / config.rank;
  }

  /** New adapters on `base` (A uniform ±1/√in as PEFT's Kaiming init, B zero); the base is frozen. */
  static create(base: Transformer, config: LoraConfig, seed = 0): LoraModel {
    if (!(Number.isInteger(config.rank) && config.rank >= 1))
      throw new Error(`LoRA rank must be a positive integer, got ${config.rank}`);
    if (!(config.alpha > 0)) throw new Error(`LoRA alpha must be positive, got ${config.alpha}`);
    const rng = new Rng(seed);
    const adapters: LoraAdapter[] = [];
    for (const spec of LoraModel.targets(base, config.targetModules)) {
      const [out, inp] = spec.shape as [number, number];
      const bound = 1 / Math.sqrt(inp);
      const like = { dtype: base.dtype, backend: base.backend };
      const a = uniform([config.rank, inp], rng, -bound, bound, like).keep();
      const b = zeros([out, config.rank], like).keep();
      adapters.push({ path: spec.path, module: spec.path.slice(0, -'.weight'.length), a, b });
    }
    base.requireGrad(false);
    const lora = new LoraModel(base, config, adapters);
    lora.requireGrad();
    return lora;
  }

  /** The 2-D weights whose module name is one of `modules`; an error names the modules the model has. */
  static targets(base: Transformer, modules: readonly string[]) {
    const specs = base.specs.filter((s) => {
      const parts = s.path.split('.');
      return parts.at(-1) === 'weight' && s.shape.length === 2 && modules.includes(parts.at(-2)!);
    });
    const found = new Set(specs.map((s) => s.path.split('.').at(-2)!));
    const missing = modules.filter((m) => !found.has(m));
    if (missing.length > 0) {
      const available = [
        ...new Set(
          base.specs
            .filter((s) => s.shape.length === 2 && s.path.startsWith('model.layers.'))
            .map((s) => s.path.split('.').at(-2)!),
        ),
      ];
      throw new Error(
        `LoRA target module(s) ${missing.join(', ')} not found; this model has ${available.join(', ')}`,
      );
    }
    return specs;
  }

  requireGrad(flag = true): this {
    for (const { a, b } of this.adapters) {
      a.requiresGrad = flag;
      b.requiresGrad = flag;
    }
    return this;
  }

  /** Trainable tensors with PEFT names (all are matrices; LoRA is usually trained without decay). */
  namedParameters(): { name: string; param: Tensor }[] {
    return this.adapters.flatMap(({ module, a, b }) => [
      { name: `base_model.model.${module}.lora_A.weight`, param: a },
      { name: `base_model.model.${module}.lora_B.weight`, param: b },
    ]);
  }

  numParameters(): number {
    return this.adapters.reduce((n, { a, b }) => n + a.size + b.size, 0);
  }

  /** Runs fn with every adapted weight replaced by W + s·B·A (differentiable in A and B). */
  withAdapters<T>(fn: () => T): T {
    const originals = this.adapters.map(({ path }) => this.base.params.get(path)!);
    try {
      this.adapters.forEach(({ path, a, b }, i) => {
        const delta = matmul(b, a); // [out, in]
        this.base.params.set(path, add(originals[i]!, affine(delta, this.scale, 0)));
      });
      return fn();
    } finally {
      this.adapters.forEach(({ path }, i) => {
        this.base.params.set(path, originals[i]!);
      });
    }
  }

  /** Mean next-token loss with the adapters applied (targets −100 are ignored). */
  loss(inputs: Tensor, targets: Tensor): Tensor {
    return this.withAdapters(() => this.base.loss(inputs, targets));
  }

  forward(inputs: Tensor | readonly (readonly number[])[]): Tensor {
    return this.withAdapters(() => this.base.forward(inputs));
  }

  /** A plain model with the updates folded in: W + s·B·A (the base model is left unchanged). */
  merged(): Transformer {
    const params = new Map<string, Tensor>();
    noGrad(() => {
      for (const [path, t] of this.base.params) {
        const adapter = this.adapters.find((x) => x.path === path);
        const value = adapter
          ? scope(() => add(t, affine(matmul(adapter.b, adapter.a), this.scale, 0)))
          : scope(() => affine(t, 1, 0));
        value.name = path;
        params.set(path, value.keep());
      }
    });
    return new Transformer(this.base.config, params);
  }

  /** Writes adapter_config.json and adapter_model.safetensors (PEFT) into `dir`. */
  async save(dir: string, baseModel: string | null = null): Promise<void> {
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (const { name, param } of this.namedParameters()) {
      tensors[name] = { dtype: 'F32', shape: param.shape, data: (await param.data()) as Float32Array };
    }
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, LORA_WEIGHTS_FILE), tensors, { format: 'pt' });
    const config = {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: this.config.rank,
      lora_alpha: this.config.alpha,
      lora_dropout: 0,
      target_modules: this.config.targetModules,
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
      init_lora_weights: true,
      modules_to_save: null,
      use_rslora: false,
      use_dora: false,
    };
    const bytes = new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`);
    writeFileAtomic(join(dir, LORA_CONFIG_FILE), (fd) => writeAll(fd, bytes));
  }

  /** Loads a PEFT LoRA adapter directory onto `base`. */
  static load(dir: string, base: Transformer): LoraModel {
    const configPath = join(dir, LORA_CONFIG_FILE);
    let json: Record<string, any>;
    try {
      json = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new Error(`${configPath}: cannot read the adapter config (${(e as Error).message})`);
    }
    if (json.peft_type !== 'LORA')
      throw new Error(`${configPath}: peft_type is '${json.peft_type}', not LORA`);
    if (json.use_dora || json.use_rslora)
      throw new Error(`${configPath}: DoRA and rsLoRA adapters are not supported`);
    const targets = Array.isArray(json.target_modules) ? json.target_modules : [json.target_modules];
    const config: LoraConfig = { rank: json.r, alpha: json.lora_alpha, targetModules: targets };
    const lora = LoraModel.create(base, config);
    const reader = openSafetensors(join(dir, LORA_WEIGHTS_FILE));
    try {
      for (const { name, param } of lora.namedParameters()) {
        // PEFT may store names with the adapter name (`.lora_A.default.weight`) when saved unusually.
        const stored = [name, name.replace(/\.weight$/, '.default.weight')].find((n) => reader.has(n));
        if (!stored) throw new Error(`${join(dir, LORA_WEIGHTS_FILE)}: no tensor '${name}'`);
        const values = tensor(reader.readFloat32(stored), param.shape, { backend: param.backend });
        param.backend.copyInto(param.info(), values.info());
        values.dispose();
      }
    } finally {
      reader.close();
    }
    return lora;
  }
}
