/// <reference types="@webgpu/types" />
/**
 * A planned batch-1 decode step on WebGPU (DESIGN.md principle 5). Built once per model and context
 * size over preallocated buffers — KV cache [layers][1, G, capacity, hd], activations, a 16-byte step
 * uniform holding the position — as a fixed list of (pipeline, bind group, workgroups) that every token
 * replays into one compute pass and one queue submit; the per-step value goes in with one writeBuffer
 * and the greedy token comes back as 4 bytes (the argmax runs on the GPU and also feeds the next step's
 * embedding, so greedy decoding never uploads a token).
 *
 * Per layer, 6 dispatches: norm·QKV(+bias) → attention splits (RoPE and cache write fused in) → combine
 * → o-proj + residual → norm·gate/up·SiLU·mul → down + residual. Plus embedding, norm·LM head with
 * per-workgroup argmax, and the final argmax: 6·layers + 3 per token.
 *
 * Prefill goes through the eager path (batched matmuls) into the same KV buffers: the plan's `cache`
 * is an ordinary KVCache whose slots are the plan's buffers.
 */

import {
  argmaxCombineShader,
  attentionCombineShader,
  attentionSplitShader,
  type DecodeAttentionSpec,
  embeddingShader,
} from '../backend/webgpu/decode/attention-decode.js';
import {
  type FusedMatvecSpec,
  fusedMatvecShader,
  matvecOutputs,
  matvecRowsPerGroup,
} from '../backend/webgpu/decode/matvec-fused.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import type { GpuStorage } from '../backend/webgpu/runtime.js';
import { rotaryDim } from '../config/layer-plan.js';
import { KVCache } from '../model/kv-cache.js';
import { ropeFrequencies } from '../model/rope.js';
import type { Transformer } from '../model/transformer.js';
import { argmax, slice, zeros } from '../ops/index.js';
import { scope, scopeAsync, type Tensor } from '../tensor/tensor.js';
import { planSupport } from './decode-support.js';

interface PlannedDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  groups: [number, number];
}

export interface DecodePlanOptions {
  /** KV-length splits of the attention kernel (default: one per 64 positions of capacity). */
  splits?: number;
}

export interface DecodeStepResult {
  token: number;
  /** The step's logits [vocab] (only when asked for: a debug read of the whole row). */
  logits?: Float32Array;
}

const maxGroupsPerDim = 65535;
const STORAGE = 0x80;
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const UNIFORM = 0x40;
const MAP_READ = 0x01;

export class DecodePlan {
  /** The eager-compatible view of the plan's KV buffers (prefill writes through it). */
  readonly cache: KVCache;
  readonly dispatches: PlannedDispatch[] = [];
  /** Dispatches encoded by `step` so far (counted while replaying). */
  dispatchCount = 0;
  private readonly device: GPUDevice;
  private readonly owned: GPUBuffer[] = [];
  private readonly cacheTensors: Tensor[] = [];
  private stepUniform!: GPUBuffer;
  private tokens!: GPUBuffer;
  private logits!: GPUBuffer;
  private tokenStaging!: GPUBuffer;
  private logitStaging: GPUBuffer | null = null;
  private readonly stepWords = new Uint32Array(4);
  /** The token the GPU's token buffer holds (the last argmax), -1 when unknown. */
  private deviceToken = -1;

  private constructor(
    readonly model: Transformer,
    private readonly backend: WebGPUBackend,
    readonly capacity: number,
  ) {
    this.device = backend.runtime.device;
    this.cache = new KVCache(model.order.length, capacity);
  }

  /** Dispatches replayed per token. */
  get dispatchesPerToken(): number {
    return this.dispatches.length;
  }

  /** Builds the plan for `model` (webgpu, float32, planSupport-ed config) and `capacity` positions. */
  static async create(
    model: Transformer,
    capacity: number,
    options: DecodePlanOptions = {},
  ): Promise<DecodePlan> {
    const reason = planSupport(model.config);
    if (reason) throw new Error(`no planned decode for this config: ${reason}`);
    if (model.backend.name !== 'webgpu') throw new Error('the planned decode step needs a webgpu model');
    if (model.dtype !== 'float32')
      throw new Error(`the planned decode step needs float32 weights, got ${model.dtype}`);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > model.config.maxPositionEmbeddings)
      throw new Error(`capacity must be in [1, ${model.config.maxPositionEmbeddings}], got ${capacity}`);
    const plan = new DecodePlan(model, model.backend as WebGPUBackend, capacity);
    plan.device.pushErrorScope('validation');
    plan.build(options.splits ?? Math.ceil(capacity / 64));
    const error = await plan.device.popErrorScope();
    if (error) {
      plan.dispose();
      throw new Error(`building the decode plan failed: ${error.message}`);
    }
    return plan;
  }

  private buffer(bytes: number, usage: number): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
    this.owned.push(buffer);
    return buffer;
  }

  private storage(floats: number): GPUBuffer {
    return this.buffer(floats * 4, STORAGE | COPY_SRC | COPY_DST);
  }

  private param(path: string): Tensor {
    const t = this.model.params.get(path);
    if (!t) throw new Error(`model parameter '${path}' is missing`);
    return t;
  }

  /** A binding of a tensor's buffer covering exactly its elements. */
  private static tensorBinding(t: Tensor): GPUBufferBinding {
    return { buffer: (t.storage as GpuStorage).buffer, size: t.size * 4 };
  }

  /** One buffer holding the given biases back to back (zeros where a part has none). */
  private concatBias(parts: readonly { path: string | null; size: number }[]): GPUBuffer | null {
    if (parts.every((p) => p.path === null)) return null;
    const total = parts.reduce((n, p) => n + p.size, 0);
    const out = this.storage(total);
    let offset = 0;
    for (const p of parts) {
      if (p.path)
        this.backend.runtime.copy(
          (this.param(p.path).storage as GpuStorage).buffer,
          out,
          p.size * 4,
          0,
          offset * 4,
        );
      offset += p.size;
    }
    return out;
  }

  private add(
    label: string,
    code: string,
    resources: (GPUBuffer | GPUBufferBinding)[],
    groups: number,
    y = 1,
    bindingStart = 1,
  ): void {
    const pipeline = this.backend.runtime.pipeline(code);
    const entries = resources.map((r, i) => ({
      binding: i + bindingStart,
      resource: 'buffer' in r ? r : { buffer: r },
    }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    if (groups > maxGroupsPerDim && y !== 1) throw new Error(`${label}: grid too large`);
    const grid: [number, number] =
      groups > maxGroupsPerDim ? [maxGroupsPerDim, Math.ceil(groups / maxGroupsPerDim)] : [groups, y];
    this.dispatches.push({ label, pipeline, bindGroup, groups: grid });
  }

  private matvec(label: string, spec: FusedMatvecSpec, resources: (GPUBuffer | GPUBufferBinding)[]): void {
    this.add(label, fusedMatvecShader(spec), resources, Math.ceil(matvecOutputs(spec) / matvecRowsPerGroup));
  }

  private build(splits: number): void {
    const m = this.model;
    const c = m.config;
    const d = c.hiddenSize;
    const hd = c.headDim;
    const vocab = c.vocabSize;
    const eps = c.norm.eps;
    const b = c.attentionBias;
    const x = this.storage(d);
    const maxHeads = Math.max(...m.layers.map((l) => l.numAttentionHeads));
    const maxKV = Math.max(...m.layers.map((l) => l.numKeyValueHeads));
    const qkv = this.storage((maxHeads + 2 * maxKV) * hd);
    const attnOut = this.storage(maxHeads * hd);
    const hidden = this.storage(Math.max(...m.layers.map((l) => l.intermediateSize)));
    const partials = this.storage(maxHeads * splits * (hd + 2));
    this.stepUniform = this.buffer(16, UNIFORM | COPY_DST);
    this.tokens = this.buffer(16, STORAGE | COPY_SRC | COPY_DST);
    this.tokenStaging = this.buffer(16, MAP_READ | COPY_DST);
    this.logits = this.storage(vocab);

    // cos/sin per position [capacity, R]: row p as the eager path computes it for a step at p.
    const rope = c.rope;
    const rot = rotaryDim(c, rope);
    const half = rot / 2;
    const table = new Float32Array(this.capacity * rot);
    const seqDependent = rope.scaling?.type === 'dynamic' || rope.scaling?.type === 'longrope';
    let freqs = ropeFrequencies(rope, rot, c.maxPositionEmbeddings, 1);
    for (let p = 0; p < this.capacity; p++) {
      if (seqDependent) freqs = ropeFrequencies(rope, rot, c.maxPositionEmbeddings, p + 1);
      for (let i = 0; i < half; i++) {
        const angle = p * freqs.invFreq[i]!;
        table[p * rot + i] = Math.cos(angle) * freqs.attentionFactor;
        table[p * rot + half + i] = Math.sin(angle) * freqs.attentionFactor;
      }
    }
    const ropeTable = this.storage(table.length);
    this.device.queue.writeBuffer(ropeTable, 0, table);

    const embed = this.param('model.embed_tokens.weight');
    this.add(
      'embedding',
      embeddingShader(d),
      [this.tokens, DecodePlan.tensorBinding(embed), x],
      Math.ceil(d / 256),
    );
    const bind = DecodePlan.tensorBinding;
    m.order.forEach((physical, slot) => {
      const layer = m.layers[physical]!;
      const p = `model.layers.${layer.index}`;
      const a = `${p}.self_attn`;
      const h = layer.numAttentionHeads;
      const g = layer.numKeyValueHeads;
      const inter = layer.intermediateSize;
      const keys = zeros([1, g, this.capacity, hd], { backend: this.backend }).keep(); // [1, G, capacity, hd]
      const values = zeros([1, g, this.capacity, hd], { backend: this.backend }).keep();
      this.cacheTensors.push(keys, values);
      this.cache.slots[slot] = { keys, values };

      const qkvBias = this.concatBias([
        { path: b.q ? `${a}.q_proj.bias` : null, size: h * hd },
        { path: b.k ? `${a}.k_proj.bias` : null, size: g * hd },
        { path: b.v ? `${a}.v_proj.bias` : null, size: g * hd },
      ]);
      this.matvec(
        `layer ${slot} norm·qkv`,
        { k: d, sources: [h * hd, g * hd, g * hd], normEps: eps, bias: qkvBias !== null, epilogue: 'store' },
        [
          x,
          bind(this.param(`${p}.input_layernorm.weight`)),
          bind(this.param(`${a}.q_proj.weight`)),
          bind(this.param(`${a}.k_proj.weight`)),
          bind(this.param(`${a}.v_proj.weight`)),
          ...(qkvBias ? [qkvBias] : []),
          qkv,
        ],
      );
      const spec: DecodeAttentionSpec = {
        heads: h,
        kvHeads: g,
        headDim: hd,
        rotaryDim: rot,
        interleaved: rope.interleaved,
        capacity: this.capacity,
        splits,
        scale: c.attentionScale ?? 1 / Math.sqrt(hd),
      };
      this.add(
        `layer ${slot} attention`,
        attentionSplitShader(spec),
        [this.stepUniform, qkv, ropeTable, bind(keys), bind(values), partials],
        splits,
        h,
        0,
      );
      this.add(`layer ${slot} combine`, attentionCombineShader(spec), [partials, attnOut], h);
      const oBias = this.concatBias([{ path: b.o ? `${a}.o_proj.bias` : null, size: d }]);
      this.matvec(
        `layer ${slot} o-proj+residual`,
        { k: h * hd, sources: [d], normEps: null, bias: oBias !== null, epilogue: 'residual' },
        [attnOut, bind(this.param(`${a}.o_proj.weight`)), ...(oBias ? [oBias] : []), x],
      );
      const mlp = `${p}.mlp`;
      const upBias = this.concatBias([
        { path: c.mlpBias ? `${mlp}.gate_proj.bias` : null, size: inter },
        { path: c.mlpBias ? `${mlp}.up_proj.bias` : null, size: inter },
      ]);
      this.matvec(
        `layer ${slot} norm·gate/up·silu`,
        { k: d, sources: [inter, inter], normEps: eps, bias: upBias !== null, epilogue: 'siluMul' },
        [
          x,
          bind(this.param(`${p}.post_attention_layernorm.weight`)),
          bind(this.param(`${mlp}.gate_proj.weight`)),
          bind(this.param(`${mlp}.up_proj.weight`)),
          ...(upBias ? [upBias] : []),
          hidden,
        ],
      );
      const downBias = this.concatBias([{ path: c.mlpBias ? `${mlp}.down_proj.bias` : null, size: d }]);
      this.matvec(
        `layer ${slot} down+residual`,
        { k: inter, sources: [d], normEps: null, bias: downBias !== null, epilogue: 'residual' },
        [hidden, bind(this.param(`${mlp}.down_proj.weight`)), ...(downBias ? [downBias] : []), x],
      );
    });
    const head = c.tieWordEmbeddings ? embed : this.param('lm_head.weight');
    const blocks = Math.ceil(vocab / matvecRowsPerGroup);
    const argmaxPartials = this.storage(2 * blocks);
    this.matvec(
      'norm·lm-head·argmax',
      { k: d, sources: [vocab], normEps: eps, bias: false, epilogue: 'argmax' },
      [x, bind(this.param('model.norm.weight')), bind(head), this.logits, argmaxPartials],
    );
    this.add('argmax', argmaxCombineShader(blocks), [argmaxPartials, this.tokens], 1);
    this.backend.runtime.flush();
  }

  /** Position of the next step (= cached positions). */
  get position(): number {
    return this.cache.length;
  }

  /**
   * Forgets the cache and runs the prompt through the eager path into the plan's KV buffers; returns
   * the greedy next token (and the last position's logits when asked).
   */
  async prefill(promptIds: readonly number[], { logits = false } = {}): Promise<DecodeStepResult> {
    if (promptIds.length === 0) throw new Error('the prompt is empty');
    if (promptIds.length > this.capacity)
      throw new Error(`a ${promptIds.length}-token prompt does not fit a ${this.capacity}-position plan`);
    this.cache.reset();
    const result = await scopeAsync(async () => {
      const out = this.model.forward([promptIds], { cache: this.cache });
      const last = scope(() => slice(out, 1, promptIds.length - 1, promptIds.length));
      if (logits) {
        const row = Float32Array.from(await last.data());
        let best = 0;
        for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
        return { token: best, logits: row };
      }
      return { token: (await argmax(last).data())[0]! };
    });
    this.deviceToken = -1;
    return result;
  }

  /**
   * One decode step at `position`: feeds `token` (default: the previous step's argmax, already on the
   * GPU), returns the greedy next token, and the logits row when `logits` is set.
   */
  async step(token?: number, { logits = false } = {}): Promise<DecodeStepResult> {
    const pos = this.cache.length;
    if (pos >= this.capacity)
      throw new Error(`the decode plan holds ${this.capacity} positions; all are used`);
    const runtime = this.backend.runtime;
    runtime.flush(); // eager work encoded before this step runs first
    const queue = this.device.queue;
    if (token !== undefined && token !== this.deviceToken) {
      if (!Number.isInteger(token) || token < 0 || token >= this.model.config.vocabSize)
        throw new Error(`token id ${token} is outside the vocabulary`);
      queue.writeBuffer(this.tokens, 0, new Uint32Array([token]));
    } else if (token === undefined && this.deviceToken < 0) {
      throw new Error('no token to feed: pass one after prefill');
    }
    this.stepWords[0] = pos;
    this.stepWords[1] = pos + 1;
    queue.writeBuffer(this.stepUniform, 0, this.stepWords);
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    let current: GPUComputePipeline | null = null;
    for (const dispatch of this.dispatches) {
      if (dispatch.pipeline !== current) {
        pass.setPipeline(dispatch.pipeline);
        current = dispatch.pipeline;
      }
      pass.setBindGroup(0, dispatch.bindGroup);
      pass.dispatchWorkgroups(dispatch.groups[0], dispatch.groups[1]);
      this.dispatchCount++;
    }
    pass.end();
    encoder.copyBufferToBuffer(this.tokens, 0, this.tokenStaging, 0, 16);
    if (logits) {
      this.logitStaging ??= this.buffer(this.model.config.vocabSize * 4, MAP_READ | COPY_DST);
      encoder.copyBufferToBuffer(this.logits, 0, this.logitStaging, 0, this.logitStaging.size);
    }
    queue.submit([encoder.finish()]);
    this.cache.length = pos + 1;
    await this.tokenStaging.mapAsync(0x0001);
    const next = new Uint32Array(this.tokenStaging.getMappedRange(0, 4))[0]!;
    this.tokenStaging.unmap();
    this.deviceToken = next;
    const result: DecodeStepResult = { token: next };
    if (logits && this.logitStaging) {
      await this.logitStaging.mapAsync(0x0001);
      result.logits = new Float32Array(
        this.logitStaging.getMappedRange().slice(0, this.model.config.vocabSize * 4),
      );
      this.logitStaging.unmap();
    }
    runtime.checkErrors();
    return result;
  }

  /** Frees the plan's buffers and KV cache (the model's weights stay). */
  dispose(): void {
    for (const buffer of this.owned) buffer.destroy();
    this.owned.length = 0;
    for (const t of this.cacheTensors) t.dispose();
    this.cacheTensors.length = 0;
    for (const s of this.cache.slots) {
      s.keys = null;
      s.values = null;
    }
    this.cache.length = 0;
  }
}
