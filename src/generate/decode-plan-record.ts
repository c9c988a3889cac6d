/// <reference types="@webgpu/types" />
/**
 * Recording a planned decode step (decode-plan.ts): the preallocated buffers and the fixed list of
 * (pipeline, bind group, workgroups) one token runs, in order —
 *   embedding; per virtual layer: the attention half (decode-plan-attention.ts: norm·QKV → attention
 *   splits with RoPE and the cache write → combine·o-proj + residual; or decode-plan-mla.ts for latent
 *   attention) → [sandwich/post: norm + residual] → norm·gate/up·act·mul → down + residual [→ norm +
 *   residual]; norm·LM head + argmax partials → argmax (or the sampler's passes). Llama-style: 5·layers
 *   + 3 dispatches (6·layers + 3 with the combine as a dispatch of its own).
 */

import { packHalves, type WeightFormat } from '../backend/webgpu/decode/half.js';
import {
  type FusedMatvecSpec,
  fusedMatvecShader,
  matvecOutputs,
  matvecRowsPerGroup,
} from '../backend/webgpu/decode/matvec-fused.js';
import { packBf16OnDevice } from '../backend/webgpu/decode/pack.js';
import {
  argmaxCombineShader,
  embeddingShader,
  normAddShader,
} from '../backend/webgpu/decode/step-shaders.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import { isPackableWeight, isPackedTensor } from '../backend/webgpu/packed.js';
import type { GpuStorage } from '../backend/webgpu/runtime.js';
import type { RopeConfig } from '../config/model-config.js';
import type { KVCache } from '../model/kv-cache.js';
import type { Transformer } from '../model/transformer.js';
import type { Tensor } from '../tensor/tensor.js';
import { ArenaPool, arenaBindings, stackSources } from './decode-plan-arena.js';
import { recordStandardAttention, ropeTableBuffer } from './decode-plan-attention.js';
import type { BufferRange, PlannedDispatch } from './decode-plan-dispatch.js';
import { recordDenseFFN } from './decode-plan-ffn.js';
import { recordLatentAttention } from './decode-plan-mla.js';
import { recordMoeFFN } from './decode-plan-moe.js';
import type { MatvecTuning } from './decode-plan-options.js';
import { type RecordedDispatch, SharedBindings } from './decode-plan-share.js';

export { encodeDispatches, type PlannedDispatch } from './decode-plan-dispatch.js';

const maxGroupsPerDim = 65535;
export const STORAGE = 0x80;
export const COPY_SRC = 0x04;
export const COPY_DST = 0x08;
const UNIFORM = 0x40;

export class StepRecorder {
  readonly dispatches: PlannedDispatch[] = [];
  /** The same dispatches' WGSL and resources (what sharedBindings rewrites). */
  readonly recorded: RecordedDispatch[] = [];
  /**
   * Activations in one buffer, one bind group for them and one per layer for the rest
   * (DecodePlanOptions.sharedBindings, decode-plan-share.ts); set before `build`.
   */
  sharedBindings = false;
  /** Buffers the plan owns (destroyed with it). */
  readonly owned: GPUBuffer[] = [];
  /** KV-cache tensors [1, G, capacity, hd] per virtual layer, K then V. */
  readonly cacheTensors: Tensor[] = [];
  readonly device: GPUDevice;
  /** 16 bytes: the step's position and length. */
  stepUniform!: GPUBuffer;
  /** u32 [4]: the step's input token at 0 (host write or the previous argmax). */
  tokens!: GPUBuffer;
  /** The LM head's logits [vocab]. */
  logits!: GPUBuffer;
  /** Matvec layouts by dispatch kind (DecodePlanOptions.matvecTuning), and the kinds they matched. */
  tuning: Readonly<Record<string, MatvecTuning>> = {};
  readonly tuned = new Set<string>();

  constructor(
    readonly model: Transformer,
    readonly backend: WebGPUBackend,
    readonly capacity: number,
    /** Its slots receive the KV tensors, so the eager prefill writes into them. */
    readonly cache: KVCache,
    /** Storage of the matvec weights (16-bit copies are made where K % 8 = 0; f32 elsewhere). */
    readonly weightFormat: WeightFormat = 'f32',
    /** Matvec reductions with subgroupAdd (see FusedMatvecSpec.subgroups). */
    readonly subgroups = false,
  ) {
    this.device = backend.runtime.device;
  }

  buffer(bytes: number, usage: number): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
    this.owned.push(buffer);
    return buffer;
  }

  /** @internal (decode-plan-mla.ts) */
  storage(floats: number): GPUBuffer {
    return this.buffer(floats * 4, STORAGE | COPY_SRC | COPY_DST);
  }

  /** @internal (decode-plan-mla.ts) */
  param(path: string): Tensor {
    const t = this.model.params.get(path);
    if (!t) throw new Error(`model parameter '${path}' is missing`);
    return t;
  }

  /** A binding of a tensor's buffer covering exactly its elements (two to a word when bf16-packed). */
  static tensorBinding(t: Tensor): GPUBufferBinding {
    const storage = t.storage as GpuStorage;
    return {
      buffer: storage.buffer,
      size: storage.format === 'bf16' ? Math.ceil(t.size / 2) * 4 : t.size * 4,
    };
  }

  /** One buffer holding the given biases back to back (zeros where a part has none or it is absent). */
  concatBias(parts: readonly { path: string | null; size: number }[]): GPUBufferBinding | null {
    parts = parts.map((p) => (p.path && !this.model.params.has(p.path) ? { path: null, size: p.size } : p));
    if (parts.every((p) => p.path === null)) return null;
    const total = parts.reduce((n, p) => n + p.size, 0);
    const out = this.constant(total);
    let offset = 0;
    for (const p of parts) {
      if (p.path)
        this.backend.runtime.copy(
          (this.param(p.path).storage as GpuStorage).buffer,
          out.buffer,
          p.size * 4,
          0,
          out.offset! + offset * 4,
        );
      offset += p.size;
    }
    return out;
  }

  /** @internal One buffer holding the given parameters back to back (MoE experts' stacked matrices). */
  stack(paths: readonly string[]): GPUBuffer {
    const tensors = paths.map((path) => this.param(path));
    const out = this.storage(tensors.reduce((n, t) => n + t.size, 0));
    let offset = 0;
    for (const t of tensors) {
      this.backend.runtime.copy((t.storage as GpuStorage).buffer, out, t.size * 4, 0, offset * 4);
      offset += t.size;
    }
    return out;
  }

  /** @internal (decode-plan-mla.ts) */
  add(
    label: string,
    code: string,
    resources: (GPUBuffer | GPUBufferBinding)[],
    groups: number,
    y = 1,
    bindingStart = 1,
  ): void {
    const entries = resources.map((r, i) => ({
      binding: i + bindingStart,
      resource: 'buffer' in r ? r : { buffer: r },
    }));
    if (groups > maxGroupsPerDim && y !== 1) throw new Error(`${label}: grid too large`);
    const grid: [number, number] =
      groups > maxGroupsPerDim ? [maxGroupsPerDim, Math.ceil(groups / maxGroupsPerDim)] : [groups, y];
    this.recorded.push({ label, code, entries, groups: grid });
    // With shared bindings the kernels are rewritten after recording: their own groups would bind the
    // activation arena with mixed access modes, which is invalid.
    if (this.sharedBindings) return;
    const pipeline = this.backend.runtime.pipeline(code);
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.dispatches.push({ label, pipeline, bindGroup, groups: grid, bindings: entries.length });
  }

  /** @internal (decode-plan-mla.ts) */
  /** `spec` with the tuning of `label`'s dispatch kind applied (DecodePlanOptions.matvecTuning). */
  tunedSpec(label: string, spec: FusedMatvecSpec): FusedMatvecSpec {
    const kind = label.replace(/\d+/g, '#');
    const tuning = this.tuning[kind];
    if (!tuning) return spec;
    this.tuned.add(kind);
    return { ...spec, ...tuning };
  }

  matvec(label: string, spec: FusedMatvecSpec, resources: (GPUBuffer | GPUBufferBinding)[]): void {
    spec = this.tunedSpec(label, spec);
    ({ spec, resources } = stackSources(spec, resources));
    const runtime = this.backend.runtime;
    this.add(
      label,
      fusedMatvecShader({
        ...spec,
        subgroups: this.subgroups,
        subgroupMin: runtime.subgroupMinSize,
        subgroupMax: runtime.subgroupMaxSize || 32,
      }),
      resources,
      Math.ceil(matvecOutputs(spec) / matvecRowsPerGroup(spec)),
      1,
      spec.combine ? 0 : 1,
    );
  }

  /** x += RMSNorm(branch)·w over the hidden vector (sandwich and post norms), one workgroup. */
  private normAdd(label: string, branch: BufferRange, weightPath: string, x: BufferRange): void {
    const c = this.model.config;
    this.add(
      label,
      normAddShader(c.hiddenSize, c.norm.eps, c.norm.plusOne),
      [branch, StepRecorder.tensorBinding(this.param(weightPath)), x],
      1,
    );
  }

  /** The step's activations, which shared bindings place in their two arenas (decode-plan-share.ts). */
  private readonly activationBuffers: GPUBuffer[] = [];

  /** Buffers of `floats` each (none for 0): the step's activations. */
  private activations(floats: readonly number[]): (GPUBuffer | null)[] {
    return floats.map((n) => {
      if (n <= 0) return null;
      const buffer = this.storage(n);
      this.activationBuffers.push(buffer);
      return buffer;
    });
  }

  /** 16-bit copies of the matvec weights, by parameter path (ranges of a few arena buffers). */
  readonly packed = new Map<string, GPUBufferBinding>();
  /** Norm weights and biases, copied into shared buffers (fewer distinct buffers a dispatch). */
  private constants: ArenaPool | null = null;

  /** @internal A range of the plan's constants buffers, `floats` long. */
  constant(floats: number): GPUBufferBinding {
    this.constants ??= new ArenaPool(
      (bytes) => this.buffer(bytes, STORAGE | COPY_DST | COPY_SRC),
      1 << 22,
      this.device.limits.minStorageBufferOffsetAlignment,
    );
    return this.constants.take(floats * 4);
  }

  /** Storage format of a matvec weight with `k` columns. */
  formatFor(k: number): WeightFormat {
    return this.weightFormat !== 'f32' && k % 8 === 0 ? this.weightFormat : 'f32';
  }

  /** Makes the 16-bit copies (host rounding, round to nearest even) before `build`. */
  async packWeights(): Promise<void> {
    const format = this.weightFormat;
    if (format === 'f32') return;
    // The matrices the loader would keep packed (the same rule, isPackableWeight: K % 8 = 0), in the
    // model's order (q/k/v and gate/up land back to back); the embedding only where it is the LM head.
    const tied = this.model.config.tieWordEmbeddings;
    const paths = [...this.model.params]
      .filter(
        ([path, t]) => isPackableWeight(path, t.shape) && (tied || path !== 'model.embed_tokens.weight'),
      )
      .map(([path]) => path);
    // Matrices loaded bf16-packed (gpuWeights 'bf16') are streamed where they are, without a copy.
    const chosen: string[] = [];
    for (const path of paths) {
      const t = this.param(path);
      if (isPackedTensor(t)) {
        if (format !== 'bf16') throw new Error(`'${path}' is bf16-packed: the plan must stream bf16`);
        this.packed.set(path, { ...StepRecorder.tensorBinding(t), offset: 0 });
      } else chosen.push(path);
    }
    const limits = this.device.limits;
    const ranges = arenaBindings(
      chosen.map((path) => this.param(path).size * 2),
      Math.min(limits.maxBufferSize, 1 << 30),
      limits.minStorageBufferOffsetAlignment,
      (bytes) => this.buffer(bytes, STORAGE | COPY_DST | COPY_SRC),
    );
    chosen.forEach((path, i) => {
      this.packed.set(path, ranges[i]!);
    });
    if (format === 'bf16') {
      // On the device: no read-back (bit-exact with packHalves' rounding).
      const sources = chosen.map((path) => {
        const t = this.param(path);
        return { binding: StepRecorder.tensorBinding(t), elements: t.size };
      });
      let next = 0;
      packBf16OnDevice(this.backend.runtime, sources, () => ranges[next++]!);
      return;
    }
    for (const [i, path] of chosen.entries()) {
      const halves = packHalves((await this.param(path).data()) as Float32Array, format);
      this.device.queue.writeBuffer(ranges[i]!.buffer, ranges[i]!.offset!, halves);
    }
  }

  /** @internal The fused matvec's norm fields for the config's norm (RMSNorm or LayerNorm). */
  normSpec(): Pick<FusedMatvecSpec, 'normEps' | 'normPlusOne' | 'normType' | 'normBias'> {
    const n = this.model.config.norm;
    return {
      normEps: n.eps,
      normPlusOne: n.plusOne,
      normType: n.type,
      normBias: n.type === 'layernorm' && n.bias,
    };
  }

  /** @internal The norm's weight (and LayerNorm bias) bindings under `prefix`. */
  normBindings(prefix: string): GPUBufferBinding[] {
    const n = this.model.config.norm;
    const paths = [`${prefix}.weight`, ...(n.type === 'layernorm' && n.bias ? [`${prefix}.bias`] : [])];
    return paths.map((path) => {
      const t = this.param(path);
      const range = this.constant(t.size);
      this.backend.runtime.copy((t.storage as GpuStorage).buffer, range.buffer, t.size * 4, 0, range.offset);
      return range;
    });
  }

  /** @internal The storage format of the binding `weight(path)` gives. */
  formatOf(path: string): WeightFormat {
    return this.packed.has(path) ? this.weightFormat : 'f32';
  }

  /** The binding of a matvec weight: its 16-bit copy when there is one, else the f32 tensor. */
  weight(path: string): GPUBuffer | GPUBufferBinding {
    return this.packed.get(path) ?? StepRecorder.tensorBinding(this.param(path));
  }

  build(splits: number, fuseCombine = true): void {
    const m = this.model;
    const c = m.config;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const vocab = c.vocabSize;
    const maxHeads = Math.max(...m.layers.map((l) => l.numAttentionHeads));
    const maxKV = Math.max(...m.layers.map((l) => l.numKeyValueHeads));
    const mla = c.mla;
    // Pre-norms feed the matvecs (pre, sandwich); post-norms normalise each branch before its add
    // (sandwich, post: OLMo2).
    const preNorm = c.normPlacement !== 'post';
    const postNorms = c.normPlacement !== 'pre';
    const parallel = c.blockTopology !== 'sequential';
    // The activations (with shared bindings, placed in two arenas after recording).
    const [x, attnOut, hidden, branch] = this.activations([
      d,
      maxHeads * (mla ? mla.vHeadDim : hd),
      Math.max(...m.layers.map((l) => l.intermediateSize)),
      // The attention branch's own buffer: normalised before its add (sandwich), or added with the
      // FFN's (parallel blocks: the FFN reads the layer's input, so attention must not add into x first).
      postNorms || parallel ? d : 0,
    ]) as [BufferRange, BufferRange, BufferRange, BufferRange | null];
    // q/k/v stays a buffer of its own: with shared bindings, the layer's norm·QKV writes it in one
    // group and the attention reads it read-only in the next.
    const qkv = this.storage((maxHeads + 2 * maxKV) * hd);
    const [partials] = this.activations([maxHeads * splits * (Math.max(hd, mla?.kvLoraRank ?? 0) + 2)]) as [
      BufferRange,
    ];
    const branchOut = branch;
    this.stepUniform = this.buffer(16, UNIFORM | COPY_DST);
    this.tokens = this.buffer(16, STORAGE | COPY_SRC | COPY_DST);
    this.logits = this.storage(vocab);

    // cos/sin per position [capacity, R] for each RoPE of the model (Gemma3's sliding layers have their
    // own θ), one table each.
    const ropeTables = new Map<RopeConfig, { table: GPUBuffer; rot: number }>();
    const ropeTable = (rope: RopeConfig) => {
      let entry = ropeTables.get(rope);
      if (!entry) {
        entry = ropeTableBuffer(this, rope);
        ropeTables.set(rope, entry);
      }
      return entry;
    };
    // Learned positions: the attention kernel rotates nothing but keeps its (zero) table bound.
    const noRope = { table: this.storage(4), rot: 0 };
    const layerRope = (layer: (typeof m.layers)[number]) => (layer.rope ? ropeTable(layer.rope) : noRope);

    const embed = this.param('model.embed_tokens.weight');
    const learned = c.positionEmbedding === 'learned';
    this.add(
      'embedding',
      embeddingShader(d, c.embeddingScale, learned, isPackedTensor(embed)),
      [
        ...(learned ? [this.stepUniform] : []),
        this.tokens,
        StepRecorder.tensorBinding(embed),
        x,
        ...(learned ? [StepRecorder.tensorBinding(this.param('model.embed_positions.weight'))] : []),
      ],
      Math.ceil(d / 256),
      1,
      learned ? 0 : 1,
    );
    m.order.forEach((physical, slot) => {
      const layer = m.layers[physical]!;
      const p = `model.layers.${layer.index}`;
      if (c.mla) {
        recordLatentAttention(this, {
          slot,
          layer,
          x,
          out: branchOut ?? x,
          residual: !branchOut,
          attnOut,
          partials,
          splits,
          rope: layerRope(layer),
        });
      } else {
        recordStandardAttention(this, {
          slot,
          layer,
          x,
          out: branchOut ?? x,
          residual: !branchOut,
          preNorm,
          qkv,
          attnOut,
          partials,
          splits,
          fuseCombine,
          rope: layerRope(layer),
        });
      }
      if (postNorms && branchOut)
        this.normAdd(
          `layer ${slot} post-attention norm+residual`,
          branchOut,
          `${p}.post_attention_layernorm.weight`,
          x,
        );
      if (layer.moe) {
        recordMoeFFN(this, { slot, layer, x });
        return;
      }
      recordDenseFFN(this, {
        slot,
        layer,
        x,
        hidden,
        preNorm,
        // Sandwich and post norms: the branch goes to its buffer and is normalised before its add;
        // parallel blocks: the attention branch waits in that buffer and is added here.
        out: postNorms ? branchOut! : x,
        extra: parallel ? branchOut! : null,
      });
      if (postNorms && branchOut)
        this.normAdd(
          `layer ${slot} post-feedforward norm+residual`,
          branchOut,
          `${p}.post_feedforward_layernorm.weight`,
          x,
        );
    });
    const headPath = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    const headBias = this.concatBias([{ path: c.lmHeadBias ? 'lm_head.bias' : null, size: vocab }]);
    const head: FusedMatvecSpec = {
      k: d,
      sources: [vocab],
      ...this.normSpec(),
      bias: headBias !== null,
      epilogue: 'argmax',
      weights: this.formatFor(d),
      logitSoftcap: c.finalLogitSoftcap,
      logitScale: c.logitScale,
    };
    // Sized by the layout the kernel will have (a tuning may change its rows per workgroup).
    const blocks = Math.ceil(vocab / matvecRowsPerGroup(this.tunedSpec('norm·lm-head·argmax', head)));
    const argmaxPartials = this.storage(2 * blocks);
    this.matvec('norm·lm-head·argmax', head, [
      x,
      ...this.normBindings('model.norm'),
      this.weight(headPath),
      ...(headBias ? [headBias] : []),
      this.logits,
      argmaxPartials,
    ]);
    this.add('argmax', argmaxCombineShader(blocks), [argmaxPartials, this.tokens], 1);
    if (this.sharedBindings) {
      const shared = new SharedBindings(this.device, this.stepUniform, this.activationBuffers, (bytes) =>
        this.buffer(bytes, STORAGE | COPY_SRC | COPY_DST),
      );
      this.dispatches.push(...shared.share(this.recorded));
    }
    this.backend.runtime.flush();
  }
}
