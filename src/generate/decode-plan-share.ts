/// <reference types="@webgpu/types" />
/**
 * Bind groups shared by a layer's dispatches (DecodePlanOptions.sharedBindings). What a dispatch costs
 * the host in Dawn is mostly its setBindGroup and the buffers it binds (bench/dispatch-cost.ts: on the
 * H200 machine 3.6–4.0 µs a dispatch with a group each, 2.9–3.1 µs with one group per five). So the
 * recorded step is rewritten after recording:
 *
 * - group 0, set once a step: the step uniform (binding 0) and two activation arenas: binding 1, a
 *   read_write `array<vec4<f32>>` for what some kernel reads as vec4 (x, the FFN's hidden units …),
 *   binding 2, an `array<f32>` for the attention partials, only ever read as scalars;
 * - group 1, set twice a layer (for norm·QKV, then from the attention on): every other buffer those
 *   kernels read or write, one binding per buffer and element type, spanning the ranges they use (the
 *   weight and constant arenas, q/k/v, the KV cache, the RoPE table), so that the others only change
 *   pipelines.
 *
 * Each kernel's WGSL is rewritten to match: its own declarations go, and every `name[i]` becomes an
 * index into the shared view at the range's offset (`acts[b + (i >> 2)][i & 3]` for a scalar in the
 * arena). The offsets inside a layer's ranges are the same in every layer of the same shape, so the
 * rewritten kernels (and their pipelines) are shared across layers. Anything the rewrite does not
 * understand throws, and the plan keeps its per-dispatch bind groups.
 */
import type { PlannedDispatch } from './decode-plan-dispatch.js';

/** A dispatch as recorded: its WGSL and bind group entries (buffer ranges). */
export interface RecordedDispatch {
  label: string;
  code: string;
  entries: { binding: number; resource: GPUBufferBinding }[];
  groups: [number, number];
}

interface Declaration {
  binding: number;
  name: string;
  /** 'uniform', or a storage access mode. */
  access: 'uniform' | 'read' | 'read_write';
  /** Element type of a storage array. */
  elem: string;
  text: string;
}

const elementBytes: Record<string, number> = {
  f32: 4,
  u32: 4,
  i32: 4,
  'vec2<f32>': 8,
  'vec2<u32>': 8,
  'vec4<f32>': 16,
  'vec4<u32>': 16,
  'atomic<u32>': 4,
};

/** The `@group(0)` declarations of a kernel (every planned kernel declares its bindings so). */
export function parseDeclarations(code: string): Declaration[] {
  const out: Declaration[] = [];
  const re = /@group\((\d+)\) @binding\((\d+)\) var<(uniform|storage, (read|read_write))> (\w+): ([^;]+);/g;
  for (const m of code.matchAll(re)) {
    if (m[1] !== '0') throw new Error(`a kernel already uses bind group ${m[1]}`);
    const type = m[6]!.trim();
    let elem = type;
    if (m[3] !== 'uniform') {
      const array = /^array<(.+?)(?:,\s*\d+u?)?>$/.exec(type);
      if (!array || !(array[1]! in elementBytes)) throw new Error(`unsupported binding type '${type}'`);
      elem = array[1]!;
    }
    out.push({
      binding: Number(m[2]),
      name: m[5]!,
      access: m[3] === 'uniform' ? 'uniform' : (m[4] as 'read' | 'read_write'),
      elem,
      text: m[0],
    });
  }
  return out;
}

/** `code` with functions' parameters called `name` renamed (within their function), so that they do not shadow it. */
function renameParameters(code: string, name: string): string {
  const fn = /\bfn\s+\w+\s*\(([^)]*)\)/g;
  for (let m = fn.exec(code); m; m = fn.exec(code)) {
    if (!new RegExp(`(^|[(,])\\s*${name}\\s*:`).test(m[1]!)) continue;
    const open = code.indexOf('{', m.index + m[0].length);
    let depth = 0;
    let close = open;
    for (; close < code.length; close++) {
      if (code[close] === '{') depth++;
      else if (code[close] === '}' && --depth === 0) break;
    }
    const renamed = code
      .slice(m.index, close + 1)
      .replace(new RegExp(`(?<![\\w.])${name}\\b`, 'g'), `${name}_slmArg`);
    code = code.slice(0, m.index) + renamed + code.slice(close + 1);
    fn.lastIndex = m.index + renamed.length;
  }
  return code;
}

/**
 * `code` with every `name[index]` replaced by `replace(index)` (nested accesses too); functions'
 * parameters of that name are renamed first. Throws where `name` is used otherwise (passed whole, or
 * shadowed by a local), since that could not be rewritten.
 */
export function rewriteIndexing(code: string, name: string, replace: (index: string) => string): string {
  code = renameParameters(code, name);
  if (new RegExp(`\\b(let|var|const)\\s+${name}\\b`).test(code))
    throw new Error(`'${name}' is also a local name`);
  const re = new RegExp(`(?<![\\w.])${name}\\b`, 'g');
  let out = '';
  let at = 0;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    let open = m.index + name.length;
    while (code[open] === ' ') open++;
    if (code[open] !== '[') throw new Error(`'${name}' is used other than indexed`);
    let depth = 0;
    let close = open;
    for (; close < code.length; close++) {
      if (code[close] === '[') depth++;
      else if (code[close] === ']' && --depth === 0) break;
    }
    if (close >= code.length) throw new Error(`unbalanced '[' after '${name}'`);
    out += code.slice(at, m.index) + replace(rewriteIndexing(code.slice(open + 1, close), name, replace));
    at = close + 1;
    re.lastIndex = at;
  }
  return out + code.slice(at);
}

const ACTS = 'slmActs';
const SCALARS = 'slmScalars';

/**
 * Layouts and pipelines by key, per device: every plan's rewritten kernels are the same text for the
 * same shapes (as the runtime caches the per-dispatch ones), and layouts made from the same entries
 * are interchangeable.
 */
const deviceCaches = new WeakMap<
  GPUDevice,
  {
    layouts: Map<string, GPUBindGroupLayout>;
    pipelineLayouts: Map<string, GPUPipelineLayout>;
    pipelines: Map<string, GPUComputePipeline>;
  }
>();

/** The bind groups and pipelines of a shared-binding step. */
export class SharedBindings {
  private readonly layouts: Map<string, GPUBindGroupLayout>;
  private readonly pipelineLayouts: Map<string, GPUPipelineLayout>;
  private readonly pipelines: Map<string, GPUComputePipeline>;
  private readonly group0Layout: GPUBindGroupLayout;
  readonly group0: GPUBindGroup;

  constructor(
    private readonly device: GPUDevice,
    private readonly stepUniform: GPUBuffer,
    /** Activations read as vec4 somewhere (x, the FFN's hidden units …): an `array<vec4<f32>>`. */
    private readonly acts: GPUBuffer,
    /**
     * Activations only read and written as scalars (q/k/v, the attention partials): an `array<f32>`
     * each, so that a kernel's stores to one do not hold back its loads from another.
     */
    private readonly scalars: readonly GPUBuffer[],
  ) {
    let cache = deviceCaches.get(device);
    if (!cache) {
      cache = { layouts: new Map(), pipelineLayouts: new Map(), pipelines: new Map() };
      deviceCaches.set(device, cache);
    }
    ({ layouts: this.layouts, pipelineLayouts: this.pipelineLayouts, pipelines: this.pipelines } = cache);
    this.group0Layout = this.layout(['uniform', 'storage', ...scalars.map(() => 'storage' as const)]);
    this.group0 = device.createBindGroup({
      layout: this.group0Layout,
      entries: [
        { binding: 0, resource: { buffer: stepUniform } },
        { binding: 1, resource: { buffer: acts } },
        ...scalars.map((buffer, i) => ({ binding: 2 + i, resource: { buffer } })),
      ],
    });
  }

  private layout(types: readonly GPUBufferBindingType[]): GPUBindGroupLayout {
    const key = types.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: types.map((type, binding) => ({ binding, visibility: 4 /* COMPUTE */, buffer: { type } })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  private pipeline(code: string, group1: readonly GPUBufferBindingType[]): GPUComputePipeline {
    const key = `${this.scalars.length};${group1.join(',')}`;
    let layout = this.pipelineLayouts.get(key);
    if (!layout) {
      layout = this.device.createPipelineLayout({
        bindGroupLayouts: [this.group0Layout, this.layout(group1)],
      });
      this.pipelineLayouts.set(key, layout);
    }
    const cacheKey = `${key}\n${code}`;
    let pipeline = this.pipelines.get(cacheKey);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code });
      pipeline = this.device.createComputePipeline({ layout, compute: { module, entryPoint: 'main' } });
      this.pipelines.set(cacheKey, pipeline);
    }
    return pipeline;
  }

  /**
   * The dispatches of `unit` (one layer's, or one of its own) with one group 1 between them; where
   * the layer's buffers do not fit one group (too many bindings, or a written buffer read as two
   * element types), a group 1 for each dispatch.
   */
  share(unit: readonly RecordedDispatch[]): PlannedDispatch[] {
    try {
      return this.shareUnit(unit);
    } catch (error) {
      if (unit.length === 1) throw error;
      return unit.flatMap((d) => this.shareUnit([d]));
    }
  }

  private shareUnit(unit: readonly RecordedDispatch[]): PlannedDispatch[] {
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    interface Use {
      d: number;
      decl: Declaration;
      range: GPUBufferBinding;
    }
    const uses: Use[] = [];
    // Comments could mention a binding's name unindexed.
    const codes = unit.map((d) => d.code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, ''));
    for (const [d, dispatch] of unit.entries()) {
      const byBinding = new Map(dispatch.entries.map((e) => [e.binding, e.resource]));
      for (const decl of parseDeclarations(codes[d]!)) {
        const range = byBinding.get(decl.binding);
        if (!range) throw new Error(`${dispatch.label}: binding ${decl.binding} has no resource`);
        uses.push({ d, decl, range });
      }
    }
    // Group 1: per buffer, one range over all its uses (read_write if any use writes), one binding per
    // element type read through it.
    const buffers = new Map<GPUBuffer, { start: number; end: number; write: boolean; views: string[] }>();
    for (const { decl, range } of uses) {
      if (decl.access === 'uniform') {
        if (range.buffer !== this.stepUniform) throw new Error('a uniform other than the step uniform');
        continue;
      }
      if (range.buffer === this.acts || this.scalars.includes(range.buffer)) continue;
      const offset = range.offset ?? 0;
      const end = offset + (range.size ?? range.buffer.size - offset);
      const entry = buffers.get(range.buffer);
      if (!entry) {
        buffers.set(range.buffer, {
          start: Math.floor(offset / align) * align,
          end,
          write: decl.access === 'read_write',
          views: [decl.elem],
        });
        continue;
      }
      entry.start = Math.min(entry.start, Math.floor(offset / align) * align);
      entry.end = Math.max(entry.end, end);
      entry.write ||= decl.access === 'read_write';
      if (!entry.views.includes(decl.elem)) entry.views.push(decl.elem);
    }
    for (const entry of buffers.values())
      if (entry.write && entry.views.length > 1)
        throw new Error(
          `a written buffer read as ${entry.views.join(' and ')} (views that would alias) in ${unit[0]!.label}`,
        );
    const views: { buffer: GPUBuffer; elem: string }[] = [];
    for (const [buffer, entry] of buffers) for (const elem of entry.views) views.push({ buffer, elem });
    const types = views.map(({ buffer }) =>
      buffers.get(buffer)!.write ? ('storage' as const) : ('read-only-storage' as const),
    );
    const storageLimit = this.device.limits.maxStorageBuffersPerShaderStage;
    if (views.length + 1 + this.scalars.length > storageLimit)
      throw new Error(`${unit[0]!.label}: more storage bindings than the ${storageLimit} a stage may have`);
    const limit = this.device.limits.maxStorageBufferBindingSize;
    for (const entry of buffers.values())
      if (entry.end - entry.start > limit) throw new Error('a layer range exceeds the binding size limit');
    const group1 = this.device.createBindGroup({
      layout: this.layout(types),
      entries: views.map(({ buffer }, binding) => {
        const { start, end } = buffers.get(buffer)!;
        return { binding, resource: { buffer, offset: start, size: Math.ceil((end - start) / 4) * 4 } };
      }),
    });
    return unit.map((dispatch, d) => {
      let code = codes[d]!;
      const declared = new Set<number>();
      let usesActs = false;
      const scalarsUsed = new Set<number>();
      for (const { decl, range } of uses.filter((u) => u.d === d)) {
        if (decl.access === 'uniform') {
          code = code.replace(decl.text, decl.text.replace(/@binding\(\d+\)/, '@binding(0)'));
          continue;
        }
        code = code.replace(decl.text, '');
        const offset = range.offset ?? 0;
        const bytes = elementBytes[decl.elem]!;
        const scalar = this.scalars.indexOf(range.buffer);
        if (scalar >= 0) {
          if (offset % 4 !== 0 || decl.elem !== 'f32')
            throw new Error(`scalar activation '${decl.name}' is read as ${decl.elem}`);
          scalarsUsed.add(scalar);
          code = rewriteIndexing(code, decl.name, (i) => `${SCALARS}${scalar}[${offset / 4}u + u32(${i})]`);
          continue;
        }
        if (range.buffer === this.acts) {
          if (offset % 16 !== 0 || (decl.elem !== 'f32' && decl.elem !== 'vec4<f32>'))
            throw new Error(`activation '${decl.name}' is not a float range at a 16-byte offset`);
          usesActs = true;
          const base = offset / 16;
          code = rewriteIndexing(code, decl.name, (i) =>
            decl.elem === 'f32'
              ? `${ACTS}[${base}u + (u32(${i}) >> 2u)][u32(${i}) & 3u]`
              : `${ACTS}[${base}u + u32(${i})]`,
          );
          continue;
        }
        const view = views.findIndex((v) => v.buffer === range.buffer && v.elem === decl.elem);
        const within = offset - buffers.get(range.buffer)!.start;
        if (within % bytes !== 0) throw new Error(`'${decl.name}' is not aligned to its element type`);
        const viewName = `slmView${view}`;
        code = rewriteIndexing(code, decl.name, (i) => `${viewName}[${within / bytes}u + u32(${i})]`);
        if (!declared.has(view)) {
          declared.add(view);
          const access = types[view] === 'storage' ? 'read_write' : 'read';
          const { start, end } = buffers.get(range.buffer)!;
          const count = Math.max(1, Math.floor((end - start) / bytes));
          code = `@group(1) @binding(${view}) var<storage, ${access}> ${viewName}: array<${decl.elem}, ${count}>;\n${code}`;
        }
      }
      // Fixed-size arrays, as the kernels declared their own (runtime-sized views measured slower).
      if (usesActs)
        code = `@group(0) @binding(1) var<storage, read_write> ${ACTS}: array<vec4<f32>, ${this.acts.size >> 4}>;\n${code}`;
      for (const j of scalarsUsed)
        code = `@group(0) @binding(${2 + j}) var<storage, read_write> ${SCALARS}${j}: array<f32, ${this.scalars[j]!.size >> 2}>;\n${code}`;
      // `enable` directives must stay first.
      const enables = code.match(/^\s*enable [^;]+;/gm) ?? [];
      for (const e of enables) code = code.replace(e, '');
      code = `${enables.map((e) => e.trim()).join('\n')}\n${code}`;
      return {
        label: dispatch.label,
        pipeline: this.pipeline(code, types),
        bindGroup: this.group0,
        bindGroup1: group1,
        groups: dispatch.groups,
        bindings: 2 + views.length,
      };
    });
  }
}

/**
 * Splits a step into units that share a group 1: each layer's dispatches, every other one alone. A
 * layer's attention starts a unit of its own, so that q/k/v, written by the unit before, is read-only
 * to it: reading it through a read_write binding cost the attention kernel 0.5 µs (15%) on the H200.
 */
export function shareUnits(recorded: readonly RecordedDispatch[]): RecordedDispatch[][] {
  const units: RecordedDispatch[][] = [];
  let key: string | null = null;
  for (const d of recorded) {
    const layer = /^layer (\d+) /.exec(d.label)?.[1] ?? null;
    if (layer !== null && layer === key && !/^layer \d+ attention$/.test(d.label))
      units[units.length - 1]!.push(d);
    else units.push([d]);
    key = layer;
  }
  return units;
}
